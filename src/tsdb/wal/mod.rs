//! The write-ahead log: segmented files of CRC32C-checked records.
//!
//! Principal items: [`Wal`] (the writer), [`replay`] (reads checkpoint + segments, cutting a
//! torn or corrupt tail), [`checkpoint()`] (compacts old segments into a checkpoint once the
//! head is persisted), and [`record`] (the record encodings).
//!
//! See `docs/format/wal.md` for the on-disk format, the repair rules and the durability
//! guarantees of each [`SyncPolicy`].
//!
//! Typical use by the head: [`replay`] the directory, then [`Wal::open`] it (which starts a
//! fresh segment), then [`Wal::log`] one batch per commit. After a block is persisted,
//! [`checkpoint()`] up to a closed segment and [`Wal::truncate_before`] the segment after it.

mod checkpoint;
mod reader;
pub mod record;
mod segment;
#[cfg(test)]
mod tests;
mod watcher;

pub use checkpoint::checkpoint;
pub use reader::{can_replay_from, replay, replay_from, replay_with_progress};
pub use watcher::{Position, Watcher};

use segment::{append_frame, io_err, list_dir, segment_name, sync_dir};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Default size at which a segment is closed and a new one started.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// The largest record [`Wal::log`] accepts, and the largest frame a reader believes.
pub const MAX_RECORD_SIZE: usize = 64 << 20;

/// Capacity above which the writer's batch buffer is dropped after a write, so one huge batch
/// does not pin its memory for the life of the WAL.
const BUF_RETAIN: usize = 4 << 20;

/// When the WAL calls `fsync`.
///
/// Every policy writes a committed record to the OS before `log` returns, so it survives the
/// process being killed. They differ in what survives a power loss or kernel crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// fsync a segment when it is closed (Prometheus's behaviour).
    #[default]
    OnSegmentClose,
    /// Also fsync at most this long after a write.
    ///
    /// Checked in [`Wal::log`] and [`Wal::sync_if_due`]; a background task should call
    /// `sync_if_due` about once per interval so the bound also holds when writes stop.
    Interval(Duration),
    /// fsync before every `log` returns.
    Always,
}

/// WAL options.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Segment size in bytes. A segment is exceeded only by a single batch that is larger than
    /// this by itself (it then sits alone in its segment).
    pub segment_size: u64,
    /// fsync policy.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, sync: SyncPolicy::default() }
    }
}

/// WAL failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An I/O error on a file of the WAL.
    #[error("wal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record too large for a segment.
    #[error("wal record of {0} bytes is too large")]
    RecordTooLarge(usize),
    /// An empty record (every record has at least its type byte).
    #[error("empty wal record")]
    EmptyRecord,
    /// A checkpoint, or a segment being checkpointed, is damaged. Unlike a torn segment tail
    /// this is not cut off automatically: the data it holds exists nowhere else.
    #[error("wal corruption in {path} at offset {offset}: {msg}")]
    Corrupt {
        /// The segment file (or the checkpoint directory, for a missing segment).
        path: PathBuf,
        /// Byte offset of the first bad frame.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// An earlier write failed and could not be rolled back, so the current segment may end
    /// in a torn frame; the writer refuses further records rather than write after it.
    #[error("wal writer failed earlier; replay and reopen the wal to continue")]
    Failed,
}

/// How far WAL replay has got, in segment numbers, for `/api/v1/status/walreplay`: all 0
/// before replay starts, `min`/`max` the first and last segment to read, `current` the one
/// being read (`max` once done).
#[derive(Debug, Default)]
pub struct ReplayProgress {
    /// First segment to replay.
    pub min: AtomicI64,
    /// Last segment to replay.
    pub max: AtomicI64,
    /// The segment being replayed.
    pub current: AtomicI64,
}

impl ReplayProgress {
    fn start(&self, first: u32, last: u32) {
        self.min.store(i64::from(first), Ordering::Relaxed);
        self.max.store(i64::from(last), Ordering::Relaxed);
        self.current.store(i64::from(first), Ordering::Relaxed);
    }

    fn done(&self) {
        self.current.store(self.max.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// `(min, max, current)`.
    pub fn snapshot(&self) -> (i64, i64, i64) {
        (self.min.load(Ordering::Relaxed), self.max.load(Ordering::Relaxed), self.current.load(Ordering::Relaxed))
    }
}

/// What replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records handed to the callback.
    pub records: u64,
    /// Corruptions found (0 or 1: replay stops at the first and cuts the WAL there).
    pub corruptions: u64,
    /// Where the WAL was cut: segment index and byte offset of the first bad record.
    pub cut_at: Option<(u32, u64)>,
    /// Records of unknown type skipped.
    pub unknown_records: u64,
}

/// What a checkpoint kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series records kept.
    pub series: u64,
    /// Samples kept.
    pub samples: u64,
    /// Tombstones kept.
    pub tombstones: u64,
}

/// The WAL writer.
///
/// Not internally synchronised: the head calls it under its own lock. Dropping it fsyncs
/// unsynced writes; use [`Wal::close`] to see an fsync error.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// The segment being written; its file position is always `written`.
    file: File,
    /// Index of `file`.
    index: u32,
    /// Bytes in `file`.
    written: u64,
    /// Frames of the batch being written, reused across calls.
    buf: Vec<u8>,
    /// Whether `file` has writes that were not fsynced.
    unsynced: bool,
    /// When `file` was last fsynced (or created).
    last_sync: Instant,
    /// Set when a failed write could not be rolled back.
    failed: bool,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segment", &self.index)
            .field("written", &self.written)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating) the WAL in `dir`, starting a new segment after the last existing one.
    /// Run [`replay`] before this.
    ///
    /// The new segment is numbered one past the highest existing segment and past the newest
    /// checkpoint, so it is replayed after everything already there; an old segment is never
    /// appended to (its tail may be torn). The directory is fsynced after the segment is made.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let l = list_dir(dir)?;
        let after_seg = l.segments.last().map(|&s| u64::from(s) + 1);
        let after_cp = l.checkpoints.last().map(|&c| u64::from(c) + 1);
        let next = after_seg.max(after_cp).unwrap_or(0);
        let index = u32::try_from(next).map_err(|_| exhausted(dir))?;
        let file = create_segment(dir, index)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            file,
            index,
            written: 0,
            buf: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            failed: false,
        })
    }

    /// Writes encoded records (see [`record`]) and hands them to the OS before returning;
    /// fsyncs per the policy.
    ///
    /// The batch is framed into one reused buffer and written with a single `write_all`, into
    /// one segment: a new segment is cut first if the batch would take a non-empty segment
    /// past the segment size. When this returns `Ok`, the records survive the process being
    /// killed. Fails with [`WalError::EmptyRecord`] or [`WalError::RecordTooLarge`] (above
    /// [`MAX_RECORD_SIZE`]) before writing anything. If the write itself fails, the partial
    /// write is rolled back (the segment truncated to its old length); if even that fails,
    /// this and every later call return [`WalError::Failed`]. An empty batch does nothing.
    pub fn log(&mut self, records: &[&[u8]]) -> Result<(), WalError> {
        if self.failed {
            return Err(WalError::Failed);
        }
        if records.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in records {
            if r.is_empty() {
                return Err(WalError::EmptyRecord);
            }
            if r.len() > MAX_RECORD_SIZE {
                return Err(WalError::RecordTooLarge(r.len()));
            }
            append_frame(&mut self.buf, r);
        }
        let n = self.buf.len() as u64;
        if self.written > 0 && self.written.saturating_add(n) > self.opts.segment_size {
            self.cut_segment()?;
        }
        self.write_buf()?;
        if self.buf.capacity() > BUF_RETAIN {
            self.buf = Vec::new();
        }
        match self.opts.sync {
            SyncPolicy::Always => self.sync(),
            SyncPolicy::Interval(_) => self.sync_if_due(),
            SyncPolicy::OnSegmentClose => Ok(()),
        }
    }

    /// Writes `buf` at the end of the current segment, rolling back a partial write.
    fn write_buf(&mut self) -> Result<(), WalError> {
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.written += self.buf.len() as u64;
                self.unsynced = true;
                Ok(())
            }
            Err(e) => {
                // A partial frame left in place would make replay cut everything logged
                // after it, so take it out again before anything else is written.
                let w = self.written;
                let rolled_back = self.file.set_len(w).and_then(|()| self.file.seek(SeekFrom::Start(w)));
                if rolled_back.is_err() {
                    self.failed = true;
                }
                Err(io_err(&self.segment_path(self.index), e))
            }
        }
    }

    /// fsyncs the current segment now (a no-op if nothing was written since the last fsync).
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.unsynced {
            self.file.sync_data().map_err(|e| io_err(&self.segment_path(self.index), e))?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// fsyncs if the `Interval` policy's deadline has passed; cheap to call often.
    ///
    /// Under [`SyncPolicy::Interval`] a background task should call this about once per
    /// interval, so unsynced writes are bounded in time even when no further `log` comes.
    /// Under the other policies it does nothing.
    pub fn sync_if_due(&mut self) -> Result<(), WalError> {
        match self.opts.sync {
            SyncPolicy::Interval(d) if self.unsynced && self.last_sync.elapsed() >= d => self.sync(),
            _ => Ok(()),
        }
    }

    /// Closes the current segment (fsynced) and starts the next; returns the new index.
    pub fn cut_segment(&mut self) -> Result<u32, WalError> {
        if self.failed {
            return Err(WalError::Failed);
        }
        self.sync()?;
        let next = self.index.checked_add(1).ok_or_else(|| exhausted(&self.dir))?;
        self.file = create_segment(&self.dir, next)?;
        self.index = next;
        self.written = 0;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(next)
    }

    /// Index of the segment being written.
    pub fn current_segment(&self) -> u32 {
        self.index
    }

    /// Deletes every segment with an index below `seg`. The current segment is never deleted,
    /// whatever `seg` is; checkpoints are left alone (see [`checkpoint()`]).
    pub fn truncate_before(&mut self, seg: u32) -> Result<(), WalError> {
        let limit = seg.min(self.index);
        for s in list_dir(&self.dir)?.segments.into_iter().filter(|&s| s < limit) {
            segment::remove_file(&self.segment_path(s))?;
        }
        Ok(())
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Total bytes of segment and checkpoint files (best effort: unreadable entries count 0).
    pub fn size_bytes(&self) -> u64 {
        let Ok(l) = list_dir(&self.dir) else { return 0 };
        let mut total = segments_len(&self.dir, &l.segments);
        for c in l.checkpoints {
            let cdir = self.dir.join(segment::checkpoint_name(c));
            if let Ok(cl) = list_dir(&cdir) {
                total += segments_len(&cdir, &cl.segments);
            }
        }
        total
    }

    /// fsyncs and closes the WAL, reporting an fsync failure that dropping would only log.
    pub fn close(mut self) -> Result<(), WalError> {
        self.sync()
    }

    fn segment_path(&self, s: u32) -> PathBuf {
        self.dir.join(segment_name(s))
    }
}

impl Drop for Wal {
    /// fsyncs unsynced writes (every policy fsyncs a segment when it is closed).
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "wal: fsync on close failed");
        }
    }
}

/// Sum of the lengths of segments `segs` in `dir`.
fn segments_len(dir: &Path, segs: &[u32]) -> u64 {
    segs.iter().map(|&s| fs::metadata(dir.join(segment_name(s))).map(|m| m.len()).unwrap_or(0)).sum()
}

fn exhausted(dir: &Path) -> WalError {
    io_err(dir, std::io::Error::other("segment index space exhausted"))
}

/// Creates segment `index` in `dir` (it must not exist) and fsyncs the directory.
fn create_segment(dir: &Path, index: u32) -> Result<File, WalError> {
    let path = dir.join(segment_name(index));
    let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| io_err(&path, e))?;
    sync_dir(dir)?;
    Ok(file)
}
