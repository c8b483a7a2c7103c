//! Which WAL records have been fully delivered, and the durable resume position.
//!
//! Every WAL record the reader hands to the shards gets a sequence number and the WAL
//! [`Position`] just past it. Shards acknowledge samples by sequence number once the remote
//! end accepted them (or they were dropped for good, and counted). The resume position is the
//! position of the longest prefix of records whose samples are all acknowledged: resuming
//! there after a restart resends nothing that was acknowledged before it and skips nothing
//! that was not.

use crate::tsdb::wal::Position;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Records in flight and the acknowledged prefix.
#[derive(Debug)]
pub struct Tracker {
    next_seq: u64,
    /// seq → (position after the record, samples not yet acknowledged).
    inflight: BTreeMap<u64, (Position, usize)>,
    acked: Position,
}

impl Tracker {
    /// A tracker whose acknowledged prefix starts at `start`.
    pub fn new(start: Position) -> Tracker {
        Tracker { next_seq: 0, inflight: BTreeMap::new(), acked: start }
    }

    /// Registers a record ending at `pos` with `samples` samples to deliver; returns its
    /// sequence number. A record with no samples to deliver is complete at once.
    pub fn begin(&mut self, pos: Position, samples: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.inflight.insert(seq, (pos, samples));
        self.advance();
        seq
    }

    /// Acknowledges `n` samples of record `seq`.
    pub fn ack(&mut self, seq: u64, n: usize) {
        if let Some((_, left)) = self.inflight.get_mut(&seq) {
            *left = left.saturating_sub(n);
        }
        self.advance();
    }

    fn advance(&mut self) {
        while let Some(entry) = self.inflight.first_entry() {
            if entry.get().1 > 0 {
                break;
            }
            self.acked = entry.remove().0;
        }
    }

    /// The position every record before which is delivered.
    pub fn acked(&self) -> Position {
        self.acked
    }

    /// Records with samples still to deliver.
    pub fn pending_records(&self) -> usize {
        self.inflight.len()
    }
}

/// The file holding a queue's resume position.
#[derive(Clone, Debug)]
pub struct PositionFile {
    path: PathBuf,
}

impl PositionFile {
    /// The position file in `dir` (created on the first save).
    pub fn new(dir: &Path) -> PositionFile {
        PositionFile { path: dir.join("position") }
    }

    /// The saved position, if there is a readable one.
    pub fn load(&self) -> Option<Position> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let pos = Position::decode(&text);
        if pos.is_none() {
            tracing::warn!(file = %self.path.display(), "remote write: unreadable position file, starting at the WAL's end");
        }
        pos
    }

    /// Saves `pos` atomically (temp file, fsync, rename).
    pub fn save(&self, pos: Position) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(pos.encode().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(offset: u64) -> Position {
        Position { segment: 1, offset }
    }

    #[test]
    fn acked_prefix_waits_for_the_oldest_record() {
        let mut t = Tracker::new(p(0));
        let a = t.begin(p(10), 2);
        let b = t.begin(p(20), 1);
        let c = t.begin(p(30), 0);
        assert_eq!(t.acked(), p(0));
        // The newer record completes first: the prefix cannot move past the older one.
        t.ack(b, 1);
        assert_eq!(t.acked(), p(0));
        t.ack(a, 1);
        assert_eq!(t.acked(), p(0), "one sample of the oldest record still out");
        t.ack(a, 1);
        assert_eq!(t.acked(), p(30), "a, b and the sample-less c are all done");
        assert_eq!(t.pending_records(), 0);
        let _ = c;
        // A record without samples right after a complete prefix completes at once.
        t.begin(p(40), 0);
        assert_eq!(t.acked(), p(40));
    }

    #[test]
    fn position_file_round_trip_and_bad_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = PositionFile::new(&dir.path().join("q"));
        assert_eq!(f.load(), None);
        f.save(Position { segment: 3, offset: 99 }).unwrap();
        assert_eq!(f.load(), Some(Position { segment: 3, offset: 99 }));
        std::fs::write(dir.path().join("q/position"), "garbage").unwrap();
        assert_eq!(f.load(), None);
    }
}
