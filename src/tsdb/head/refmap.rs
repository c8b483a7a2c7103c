//! A map keyed by series reference, dense where references are.

use super::FastMap;

/// References below this always go to the dense vector.
const DENSE_FLOOR: u64 = 1 << 16;

/// How much larger than the number of entries the dense vector may grow: a reference is
/// stored densely only if it is below `DENSE_SLACK * (entries + 1)` (or below
/// [`DENSE_FLOOR`]). This keeps the vector at most a few pointers per entry, so a WAL with
/// huge or scattered references cannot make replay allocate an absurd vector.
const DENSE_SLACK: u64 = 8;

/// Maps series references to values.
///
/// The head hands out references densely from 1, so a vector indexed by reference is the
/// common case and costs one memory access per lookup; references too large or too sparse
/// for it fall back to a hash map.
pub(crate) struct RefMap<T> {
    dense: Vec<Option<T>>,
    sparse: FastMap<u64, T>,
    len: usize,
}

impl<T> Default for RefMap<T> {
    fn default() -> Self {
        RefMap { dense: Vec::new(), sparse: FastMap::default(), len: 0 }
    }
}

impl<T> RefMap<T> {
    /// The value of `r`.
    #[inline]
    pub(crate) fn get(&self, r: u64) -> Option<&T> {
        if let Some(slot) = usize::try_from(r).ok().and_then(|i| self.dense.get(i))
            && (slot.is_some() || self.sparse.is_empty())
        {
            return slot.as_ref();
        }
        if self.sparse.is_empty() { None } else { self.sparse.get(&r) }
    }

    /// Sets the value of `r`, replacing any previous one.
    pub(crate) fn insert(&mut self, r: u64, v: T) {
        let cap = DENSE_SLACK.saturating_mul(self.len as u64 + 1).max(DENSE_FLOOR);
        let idx = usize::try_from(r).ok().filter(|&i| i < self.dense.len() || r < cap);
        let Some(i) = idx else {
            if self.sparse.insert(r, v).is_none() {
                self.len += 1;
            }
            return;
        };
        if i >= self.dense.len() {
            // Grow geometrically (within the cap) so a run of increasing references costs
            // amortised O(1).
            let want = (i + 1).max(self.dense.len().saturating_mul(2)).min(cap as usize).max(i + 1);
            self.dense.resize_with(want, || None);
        }
        let moved = if self.sparse.is_empty() { None } else { self.sparse.remove(&r) };
        let Some(slot) = self.dense.get_mut(i) else { return };
        if slot.replace(v).is_none() && moved.is_none() {
            self.len += 1;
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Length of the dense vector (for tests of the growth bound).
    #[cfg(test)]
    fn dense_len(&self) -> usize {
        self.dense.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn huge_and_scattered_refs_stay_sparse() {
        let mut m = RefMap::default();
        for (i, r) in [u64::MAX, 1 << 40, 1 << 33, 7, 0].into_iter().enumerate() {
            m.insert(r, i);
        }
        assert_eq!(m.get(u64::MAX), Some(&0));
        assert_eq!(m.get(1 << 40), Some(&1));
        assert_eq!(m.get(1 << 33), Some(&2));
        assert_eq!(m.get(7), Some(&3));
        assert_eq!(m.get(0), Some(&4));
        assert_eq!(m.get(8), None);
        assert_eq!(m.len(), 5);
        // Five entries allow a dense vector of at most max(2^16, 8 * 6) slots.
        assert!(m.dense_len() <= DENSE_FLOOR as usize, "dense vector grew to {}", m.dense_len());
    }

    #[test]
    fn dense_refs_grow_the_vector() {
        let mut m = RefMap::default();
        for r in 1..200_000u64 {
            m.insert(r, r * 2);
        }
        assert_eq!(m.len(), 199_999);
        assert!(m.dense_len() >= 200_000);
        assert!(m.sparse.is_empty());
        assert_eq!(m.get(123_456), Some(&246_912));
    }

    proptest! {
        /// The map behaves like a `HashMap` whatever the references.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec(
            (prop_oneof![0u64..100_000, any::<u64>(), 0u64..100], any::<u32>()), 0..400)
        ) {
            let mut m = RefMap::default();
            let mut want = std::collections::HashMap::new();
            for &(r, v) in &ops {
                m.insert(r, v);
                want.insert(r, v);
                prop_assert_eq!(m.len(), want.len());
            }
            for &(r, _) in &ops {
                prop_assert_eq!(m.get(r), want.get(&r));
                prop_assert_eq!(m.get(r.wrapping_add(1)), want.get(&r.wrapping_add(1)));
            }
        }
    }
}
