//! Tailing the WAL from outside the writer: what the remote-write sender reads.
//!
//! A [`Watcher`] follows the segments of a live WAL directory from a [`Position`] (segment
//! and byte offset), handing each complete record to its caller with the position just past
//! it, so a consumer can persist how far it has got and resume there after a restart without
//! resending or skipping anything the WAL still holds.
//!
//! Series definitions may lie before the resume position (or in a checkpoint), so
//! [`Watcher::load_series`] first reads every series record up to the position: the newest
//! checkpoint, then the segments. Records after the position are then read with
//! [`Watcher::read_available`] as they are written.
//!
//! The writer frames each commit with one `write` call, but a reader may still see the
//! commit half-written. A torn frame at the end of the newest segment therefore means "not
//! written yet": the watcher stops before it and tries again on the next call. A bad frame
//! anywhere else (a closed segment) is damage: the rest of that segment is skipped and
//! counted in [`Watcher::skipped_segments`]. When the segment at the position has been
//! removed (the database checkpointed and truncated the WAL), the watcher moves on to the
//! next segment that exists and counts the jump in [`Watcher::truncated_jumps`], so the
//! consumer can account for what it will never see.

use super::WalError;
use super::record::{self, Record};
use super::segment::{checkpoint_name, io_err, list_dir, parse_frame, segment_name};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A place in the WAL: the segment and the byte offset of the next unread frame in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Segment index.
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
}

impl Position {
    /// The text form `segment:offset`, as stored in position files.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.segment, self.offset)
    }

    /// Parses [`Position::encode`]'s form.
    pub fn decode(s: &str) -> Option<Position> {
        let (seg, off) = s.trim().split_once(':')?;
        Some(Position { segment: seg.parse().ok()?, offset: off.parse().ok()? })
    }
}

/// Follows one WAL directory. Not thread-safe; one per consumer.
#[derive(Debug)]
pub struct Watcher {
    dir: PathBuf,
    pos: Position,
    buf: Vec<u8>,
    skipped_segments: u64,
    truncated_jumps: u64,
}

impl Watcher {
    /// A watcher of `dir` that will read from `start`. Use [`Watcher::end_position`] to
    /// start at the end (only new records).
    pub fn new(dir: impl Into<PathBuf>, start: Position) -> Watcher {
        Watcher { dir: dir.into(), pos: start, buf: Vec::new(), skipped_segments: 0, truncated_jumps: 0 }
    }

    /// The position of the next record to read.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Damaged closed segments whose tail was skipped.
    pub fn skipped_segments(&self) -> u64 {
        self.skipped_segments
    }

    /// Times the position's segment was gone (truncated away) and the watcher jumped ahead.
    pub fn truncated_jumps(&self) -> u64 {
        self.truncated_jumps
    }

    /// The current end of `dir`'s WAL: the newest segment and its length.
    pub fn end_position(dir: &Path) -> Result<Position, WalError> {
        let l = list_dir(dir)?;
        let Some(&seg) = l.segments.last() else {
            return Ok(Position::default());
        };
        let path = dir.join(segment_name(seg));
        let len = std::fs::metadata(&path).map_err(|e| io_err(&path, e))?.len();
        Ok(Position { segment: seg, offset: len })
    }

    /// Hands every series record before the position to `f`: those of the newest
    /// checkpoint, then those of each segment from the first up to the position.
    pub fn load_series(&mut self, f: &mut dyn FnMut(Record)) -> Result<(), WalError> {
        let l = list_dir(&self.dir)?;
        if let Some(&cp) = l.checkpoints.last() {
            let cdir = self.dir.join(checkpoint_name(cp));
            for s in list_dir(&cdir)?.segments {
                let path = cdir.join(segment_name(s));
                read_series(&path, u64::MAX, &mut self.buf, f)?;
            }
        }
        for &s in l.segments.iter().filter(|&&s| s <= self.pos.segment) {
            let upto = if s == self.pos.segment { self.pos.offset } else { u64::MAX };
            read_series(&self.dir.join(segment_name(s)), upto, &mut self.buf, f)?;
        }
        Ok(())
    }

    /// Reads every complete record written after the position, handing each to `f` with the
    /// position just past it, and advances. Returns how many records were read; 0 means
    /// nothing new yet. Reads at most `max_records` records per call, so a consumer far
    /// behind can interleave sending with reading.
    pub fn read_available(
        &mut self,
        max_records: usize,
        f: &mut dyn FnMut(Position, Record),
    ) -> Result<usize, WalError> {
        let mut n = 0;
        while n < max_records {
            let l = list_dir(&self.dir)?;
            if !l.segments.contains(&self.pos.segment) {
                match l.segments.iter().find(|&&s| s > self.pos.segment) {
                    Some(&next) => {
                        tracing::warn!(
                            from = self.pos.segment,
                            to = next,
                            "wal watcher: segment gone (truncated), jumping ahead"
                        );
                        self.truncated_jumps += 1;
                        self.pos = Position { segment: next, offset: 0 };
                    }
                    // Nothing at or after the position yet.
                    None => return Ok(n),
                }
            }
            let next = l.segments.iter().find(|&&s| s > self.pos.segment).copied();
            let path = self.dir.join(segment_name(self.pos.segment));
            let got = self.read_segment_from(&path, next.is_none(), max_records - n, f)?;
            n += got.records;
            match next {
                // A closed segment read to its end: go on with the next one.
                Some(next) if got.reached_end => self.pos = Position { segment: next, offset: 0 },
                // Caught up with the newest segment, or the budget is spent, or a commit is
                // still being written.
                _ => return Ok(n),
            }
        }
        Ok(n)
    }

    fn read_segment_from(
        &mut self,
        path: &Path,
        newest: bool,
        budget: usize,
        f: &mut dyn FnMut(Position, Record),
    ) -> Result<SegmentRead, WalError> {
        self.buf.clear();
        let mut file = match File::open(path) {
            Ok(file) => file,
            // Truncated away between the listing and now: the next call jumps ahead.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SegmentRead { records: 0, reached_end: false });
            }
            Err(e) => return Err(io_err(path, e)),
        };
        file.seek(SeekFrom::Start(self.pos.offset)).map_err(|e| io_err(path, e))?;
        file.read_to_end(&mut self.buf).map_err(|e| io_err(path, e))?;
        let mut off = 0usize;
        let mut records = 0;
        while records < budget {
            let Some(data) = self.buf.get(off..).filter(|d| !d.is_empty()) else {
                return Ok(SegmentRead { records, reached_end: true });
            };
            let bad = match parse_frame(data) {
                Ok((payload, used)) => match record::decode(payload) {
                    Ok(rec) => {
                        off += used;
                        self.pos.offset += used as u64;
                        records += 1;
                        f(self.pos, rec);
                        continue;
                    }
                    Err(e) => e.to_string(),
                },
                Err(msg) => msg,
            };
            if newest {
                // Most likely a commit still being written: try again later.
                return Ok(SegmentRead { records, reached_end: false });
            }
            tracing::warn!(
                segment = self.pos.segment,
                offset = self.pos.offset,
                reason = %bad,
                "wal watcher: damaged closed segment, skipping its rest"
            );
            self.skipped_segments += 1;
            return Ok(SegmentRead { records, reached_end: true });
        }
        Ok(SegmentRead { records, reached_end: self.buf.len() == off })
    }
}

struct SegmentRead {
    records: usize,
    /// The segment was read to its end (or its damaged rest skipped).
    reached_end: bool,
}

/// Hands the series records of the segment at `path` that end at or before `upto` to `f`;
/// stops at the first bad frame (the rest of a damaged file defines nothing usable).
fn read_series(path: &Path, upto: u64, buf: &mut Vec<u8>, f: &mut dyn FnMut(Record)) -> Result<(), WalError> {
    buf.clear();
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path, e)),
    };
    file.read_to_end(buf).map_err(|e| io_err(path, e))?;
    let end = usize::try_from(upto).unwrap_or(usize::MAX).min(buf.len());
    let mut off = 0usize;
    while let Some(data) = buf.get(off..end).filter(|d| !d.is_empty()) {
        let Ok((payload, used)) = parse_frame(data) else { break };
        if record::record_type(payload) == Some(record::RecordType::Series)
            && let Ok(rec) = record::decode(payload)
        {
            f(rec);
        }
        off += used;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::tsdb::wal::record::{RefSample, RefSeries, encode_samples, encode_series};
    use crate::tsdb::wal::{SyncPolicy, Wal, WalOptions};
    use std::io::Write;

    fn wal(dir: &Path, segment_size: u64) -> Wal {
        Wal::open(dir, WalOptions { segment_size, sync: SyncPolicy::OnSegmentClose }).unwrap()
    }

    /// Logs one commit: a series record for `r` and one sample of it with value `r`.
    fn commit(w: &mut Wal, r: u64) {
        let mut a = Vec::new();
        let name = format!("m{r}");
        encode_series(
            &[RefSeries { series_ref: r, labels: Labels::from_pairs(&[("__name__", name.as_str())]).unwrap() }],
            &mut a,
        );
        let mut b = Vec::new();
        encode_samples(&[RefSample { series_ref: r, t: r as i64, v: r as f64 }], &mut b);
        w.log(&[&a, &b]).unwrap();
    }

    /// Sample values read, in order.
    fn drain(w: &mut Watcher, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        w.read_available(max, &mut |_, rec| {
            if let Record::Samples(s) = rec {
                out.extend(s.iter().map(|s| s.v as u64));
            }
        })
        .unwrap();
        out
    }

    #[test]
    fn follows_across_segments_and_resumes_from_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = wal(dir.path(), 200);
        for r in 0..10 {
            commit(&mut w, r);
        }
        let mut watcher = Watcher::new(dir.path(), Position::default());
        assert_eq!(drain(&mut watcher, usize::MAX), (0..10).collect::<Vec<_>>());
        assert!(watcher.position().segment > 0, "small segments: the commits span several");
        assert!(drain(&mut watcher, usize::MAX).is_empty(), "caught up");

        for r in 10..15 {
            commit(&mut w, r);
        }
        // A budget smaller than what is there: the rest comes on the next call.
        let first = drain(&mut watcher, 3);
        assert_eq!(first.len(), 1, "3 records = one commit's series+samples, then a series record");
        let saved = watcher.position();
        let rest = drain(&mut watcher, usize::MAX);
        assert_eq!([first, rest.clone()].concat(), (10..15).collect::<Vec<_>>());

        // A new watcher from the saved position sees exactly what came after it, and knows
        // every series defined before it.
        let mut resumed = Watcher::new(dir.path(), saved);
        let mut series = Vec::new();
        resumed
            .load_series(&mut |rec| {
                if let Record::Series(s) = rec {
                    series.extend(s.into_iter().map(|s| s.series_ref));
                }
            })
            .unwrap();
        assert_eq!(series, (0..=11).collect::<Vec<_>>(), "series up to the saved position");
        assert_eq!(drain(&mut resumed, usize::MAX), rest);
    }

    #[test]
    fn a_torn_tail_in_the_newest_segment_waits_a_damaged_closed_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = wal(dir.path(), 1 << 20);
        commit(&mut w, 1);
        let seg = w.current_segment();
        let path = dir.path().join(segment_name(seg));
        // Half a frame: a commit being written.
        let full = std::fs::metadata(&path).unwrap().len();
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1]).unwrap();
        let mut watcher = Watcher::new(dir.path(), Position::default());
        assert_eq!(drain(&mut watcher, usize::MAX), vec![1]);
        assert_eq!(watcher.position(), Position { segment: seg, offset: full }, "stopped before the torn frame");
        assert_eq!(drain(&mut watcher, usize::MAX), Vec::<u64>::new());
        assert_eq!(watcher.skipped_segments(), 0);

        // Once a newer segment exists the torn frame can never complete: skip and go on.
        drop(f);
        drop(w);
        let mut w = wal(dir.path(), 1 << 20);
        commit(&mut w, 2);
        assert_eq!(drain(&mut watcher, usize::MAX), vec![2]);
        assert_eq!(watcher.skipped_segments(), 1);
    }

    #[test]
    fn truncated_segments_are_jumped_over_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = wal(dir.path(), 200);
        for r in 0..10 {
            commit(&mut w, r);
        }
        let last = w.current_segment();
        w.truncate_before(last).unwrap();
        let mut watcher = Watcher::new(dir.path(), Position::default());
        let got = drain(&mut watcher, usize::MAX);
        assert_eq!(watcher.truncated_jumps(), 1);
        assert!(!got.is_empty() && got.len() < 10, "only the newest segment's samples: {got:?}");
        assert_eq!(got.last(), Some(&9));
    }

    #[test]
    fn end_position_and_text_form() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = wal(dir.path(), 1 << 20);
        commit(&mut w, 1);
        let end = Watcher::end_position(dir.path()).unwrap();
        let mut watcher = Watcher::new(dir.path(), end);
        assert!(drain(&mut watcher, usize::MAX).is_empty(), "starting at the end skips what is there");
        commit(&mut w, 2);
        assert_eq!(drain(&mut watcher, usize::MAX), vec![2]);
        let p = Position { segment: 7, offset: 12345 };
        assert_eq!(Position::decode(&p.encode()), Some(p));
        for bad in ["", "7", "x:1", "1:-1", "1:2:3"] {
            assert_eq!(Position::decode(bad), None, "{bad}");
        }
    }
}
