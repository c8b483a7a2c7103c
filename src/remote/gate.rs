//! The remote-read concurrency gate (`--storage.remote.read-concurrent-limit`), as
//! Prometheus's `gate.Gate`: at most `limit` reads run at once; further reads wait for a
//! slot (they are not refused). A limit of 0 means no limit.
//!
//! Principal type: [`Gate`].

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds how many reads run at once.
#[derive(Debug)]
pub struct Gate {
    slots: Option<Arc<Semaphore>>,
}

impl Default for Gate {
    /// Prometheus's default limit, 10.
    fn default() -> Self {
        Gate::new(10)
    }
}

impl Gate {
    /// A gate letting `limit` holders in at once (0: everyone).
    pub fn new(limit: usize) -> Gate {
        Gate { slots: (limit > 0).then(|| Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)))) }
    }

    /// Waits for a slot; the slot is held until the returned guard is dropped (`None` when
    /// there is no limit).
    pub async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        let s = self.slots.as_ref()?;
        // The semaphore is never closed, so acquiring only fails if it were.
        s.clone().acquire_owned().await.ok()
    }

    /// Free slots now (`None` without a limit).
    pub fn available(&self) -> Option<usize> {
        self.slots.as_ref().map(|s| s.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_eleventh_read_waits_until_one_finishes() {
        let gate = Arc::new(Gate::new(10));
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(gate.enter().await.expect("a slot"));
        }
        assert_eq!(gate.available(), Some(0));
        let g = gate.clone();
        let mut eleventh = tokio::spawn(async move { g.enter().await.is_some() });
        // It waits while all ten are held...
        assert!(tokio::time::timeout(Duration::from_millis(200), &mut eleventh).await.is_err(), "11th got in early");
        // ...and gets in once one finishes.
        drop(held.pop());
        let got = tokio::time::timeout(Duration::from_secs(5), eleventh).await.expect("11th still waiting").unwrap();
        assert!(got);
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let gate = Gate::new(0);
        assert_eq!(gate.available(), None);
        let guards: Vec<_> = enter_n(&gate, 100).await;
        assert!(guards.iter().all(Option::is_none));
    }

    async fn enter_n(gate: &Gate, n: usize) -> Vec<Option<OwnedSemaphorePermit>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(tokio::time::timeout(Duration::from_secs(1), gate.enter()).await.expect("no wait"));
        }
        out
    }
}
