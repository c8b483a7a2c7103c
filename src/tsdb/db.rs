//! The database: a head with its WAL plus persisted blocks, compaction, retention, deletion
//! and snapshots.

use crate::model::Matcher;
use crate::tsdb::block::{self, BlockMeta, BlockReader, CompactionMeta};
use crate::tsdb::chunk::XorIterator;
use crate::tsdb::compact;
use crate::tsdb::error::{Error, Result, io_err};
use crate::tsdb::exemplar::ExemplarSeries;
use crate::tsdb::head::{Appender, Head, HeadOptions, MemSeries, Replayer, snapshot};
use crate::tsdb::metrics::Metrics;
use crate::tsdb::querier::{BlockIndex, Querier, merge_dedup};
use crate::tsdb::tombstones::Tombstones;
use crate::tsdb::wal::record::{self, RefTombstone};
use crate::tsdb::wal::{self, SyncPolicy, Wal, WalOptions};
use parking_lot::{Mutex, RwLock};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::JoinHandle;
use std::time::Duration;

const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Database options (`--storage.tsdb.*`).
#[derive(Clone, Debug)]
pub struct Options {
    /// Keep blocks whose data is newer than this (ms); 0 keeps everything.
    pub retention_time: i64,
    /// Keep at most this many bytes of blocks and WAL; 0 means no limit.
    pub retention_size: u64,
    /// The range of blocks cut from the head (ms), 2h by default.
    pub block_range: i64,
    /// The largest compacted block (ms); by default 10% of the retention time, at most 31d.
    pub max_block_range: Option<i64>,
    /// Out-of-order window (ms); 0 disables out-of-order ingestion.
    pub ooo_window: i64,
    /// WAL segment size (bytes).
    pub wal_segment_size: u64,
    /// WAL fsync policy.
    pub wal_sync: SyncPolicy,
    /// Run compaction and retention in a background thread at this interval; `None` leaves
    /// it to explicit [`Db::compact`] calls.
    pub background_interval: Option<Duration>,
    /// Where WAL replay reports its progress (shared with `/api/v1/status/walreplay`).
    pub replay_progress: Arc<wal::ReplayProgress>,
    /// The exemplar ring size with exemplar storage enabled
    /// (`--enable-feature=exemplar-storage`, `storage.exemplars.max_exemplars`); `None`
    /// disables it.
    pub max_exemplars: Option<i64>,
    /// Write the head to a snapshot file on close, so the next open loads it instead of
    /// replaying the WAL (Prometheus's `memory-snapshot-on-shutdown`, on by default here).
    pub head_snapshot_on_shutdown: bool,
    /// Threads applying samples during WAL replay; 0 means one per available CPU, 1 applies
    /// them on the opening thread.
    pub wal_replay_workers: usize,
}

impl Options {
    /// Whether the head is snapshotted on close: when asked for and exemplar storage is off
    /// (snapshots do not hold exemplars yet, so with exemplar storage on a snapshot is
    /// neither written nor loaded).
    fn snapshots(&self) -> bool {
        self.head_snapshot_on_shutdown && self.max_exemplars.is_none()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_time: 15 * DAY_MS,
            retention_size: 0,
            block_range: 2 * HOUR_MS,
            max_block_range: None,
            ooo_window: 0,
            wal_segment_size: wal::DEFAULT_SEGMENT_SIZE,
            wal_sync: SyncPolicy::default(),
            background_interval: Some(Duration::from_secs(60)),
            replay_progress: Arc::default(),
            max_exemplars: None,
            wal_replay_workers: 0,
            head_snapshot_on_shutdown: true,
        }
    }
}

impl Options {
    fn validate(&self) -> Result<()> {
        if self.block_range <= 0 {
            return Err(Error::InvalidOptions("block range must be positive".into()));
        }
        if self.retention_time < 0 || self.ooo_window < 0 {
            return Err(Error::InvalidOptions("retention and out-of-order window must not be negative".into()));
        }
        if self.wal_segment_size < 64 * 1024 {
            return Err(Error::InvalidOptions("WAL segment size must be at least 64KiB".into()));
        }
        Ok(())
    }

    fn max_range(&self) -> i64 {
        self.max_block_range.unwrap_or_else(|| {
            let r = if self.retention_time > 0 { self.retention_time / 10 } else { 31 * DAY_MS };
            r.clamp(self.block_range, 31 * DAY_MS)
        })
    }
}

struct Inner {
    dir: PathBuf,
    opts: Options,
    head: Arc<Head>,
    wal: Arc<Mutex<Wal>>,
    blocks: RwLock<Vec<Arc<dyn BlockReader>>>,
    metrics: Arc<Metrics>,
    /// Serialises compaction, retention, deletion and snapshots.
    maintenance: Mutex<()>,
    _lock: File,
}

/// An open database directory.
pub struct Db {
    inner: Arc<Inner>,
    stop: Option<crossbeam_channel::Sender<()>>,
    worker: Option<JoinHandle<()>>,
    /// Set once `shutdown` ran (by `close`), so dropping does not run it again.
    closed: bool,
}

impl Db {
    /// Opens (creating) the database in `dir`: locks it, removes leftovers of interrupted
    /// writes, loads the blocks and replays the WAL into the head (cutting a corrupt tail).
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir));
        }
        let metrics = Arc::new(Metrics::default());
        block::delete_leftovers(&dir);
        let blocks = load_blocks(&dir)?;
        let persisted = blocks.iter().map(|b| b.meta().max_time).max();
        let head = restore_head(&dir, &opts, &metrics, persisted)?;
        let wal_dir = dir.join("wal");
        let wal = Wal::open(&wal_dir, WalOptions { segment_size: opts.wal_segment_size, sync: opts.wal_sync })?;
        let inner = Arc::new(Inner {
            dir,
            opts,
            head,
            wal: Arc::new(Mutex::new(wal)),
            blocks: RwLock::new(blocks),
            metrics,
            maintenance: Mutex::new(()),
            _lock: lock,
        });
        inner.update_block_metrics();
        let mut db = Db { inner, stop: None, worker: None, closed: false };
        if let Some(every) = db.inner.opts.background_interval {
            let (tx, rx) = crossbeam_channel::bounded::<()>(1);
            let inner = db.inner.clone();
            let tick = Duration::from_millis(200).min(every);
            db.worker = Some(std::thread::spawn(move || {
                let mut last = std::time::Instant::now();
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = rx.recv_timeout(tick) {
                    if let Err(e) = inner.wal.lock().sync_if_due() {
                        tracing::error!(error = %e, "WAL fsync failed");
                    }
                    if last.elapsed() >= every {
                        last = std::time::Instant::now();
                        if let Err(e) = inner.compact() {
                            tracing::error!(error = %e, "compaction failed");
                        }
                    }
                }
            }));
            db.stop = Some(tx);
        }
        Ok(db)
    }

    /// A new appender.
    pub fn appender(&self) -> Appender {
        Appender::new(self.inner.head.clone(), self.inner.wal.clone())
    }

    /// A querier over `[mint, maxt]` (inclusive, ms).
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier {
        Querier::new(mint, maxt, self.inner.blocks.read().clone(), Some(self.inner.head.clone()))
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.inner.head
    }

    /// The exemplars in `[mint, maxt]` of the series matching any of `matcher_sets` (empty
    /// when exemplar storage is off).
    pub fn select_exemplars(&self, mint: i64, maxt: i64, matcher_sets: &[Vec<Matcher>]) -> Vec<ExemplarSeries> {
        self.inner.head.exemplars.select(mint, maxt, matcher_sets)
    }

    /// Resizes the exemplar ring (a configuration reload), keeping the newest exemplars.
    /// Does nothing when exemplar storage is off.
    pub fn set_max_exemplars(&self, max: i64) {
        let head = &self.inner.head;
        if head.exemplars_enabled() && head.exemplars.max_exemplars() != max.max(0) as usize {
            let kept = head.exemplars.resize(max);
            tracing::info!(max_exemplars = max, kept, "exemplar storage resized");
        }
    }

    /// The engine's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Metas of the loaded blocks, oldest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        let mut m: Vec<BlockMeta> = self.inner.blocks.read().iter().map(|b| b.meta().clone()).collect();
        m.sort_by_key(|m| m.min_time);
        m
    }

    /// Persists head data once it spans more than 1.5 block ranges, merges blocks, and
    /// applies retention. The background thread calls this periodically.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact()
    }

    /// Persists everything in the head as blocks (one per block-range window) and empties it.
    pub fn flush_head(&self) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let (min, max) = (inner.head.min_time(), inner.head.max_time());
        if min > max {
            return Ok(());
        }
        let r = inner.opts.block_range;
        let mut start = min.div_euclid(r) * r;
        while start <= max {
            inner.persist_head_range(start, start.saturating_add(r))?;
            start = start.saturating_add(r);
        }
        inner.truncate_head(max.saturating_add(1))?;
        Ok(())
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers`: tombstones for
    /// blocks (applied at query time, removed by compaction) and for the head (logged to the
    /// WAL).
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        for b in inner.blocks.read().iter() {
            if b.meta().min_time > maxt || b.meta().max_time <= mint {
                continue;
            }
            let ids = crate::tsdb::postings::select(&BlockIndex(b.as_ref()), matchers)?;
            if ids.is_empty() {
                continue;
            }
            let mut t: Tombstones = (*b.tombstones()).clone();
            for id in ids.iter() {
                t.add(id, mint, maxt);
            }
            b.set_tombstones(t)?;
        }
        let refs = inner.head.select_refs(matchers);
        if !refs.is_empty() {
            let stones: Vec<RefTombstone> = refs.iter().map(|r| RefTombstone { series_ref: r, mint, maxt }).collect();
            let mut buf = Vec::new();
            record::encode_tombstones(&stones, &mut buf);
            let mut wal = inner.wal.lock();
            wal.log(&[&buf])?;
            let mut ts = inner.head.tombstones.write();
            for s in &stones {
                ts.add(s.series_ref, s.mint, s.maxt);
            }
        }
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted data.
    pub fn clean_tombstones(&self) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let with_tombstones: Vec<Arc<dyn BlockReader>> =
            inner.blocks.read().iter().filter(|b| !b.tombstones().is_empty()).cloned().collect();
        for b in with_tombstones {
            inner.replace_blocks(std::slice::from_ref(&b), true)?;
        }
        Ok(())
    }

    /// Writes a consistent copy of the database under `dir`: hard links of every block, plus
    /// (with `with_head`) the head's data as a new block. Returns the blocks written.
    pub fn snapshot(&self, dir: impl AsRef<Path>, with_head: bool) -> Result<Vec<BlockMeta>> {
        let inner = &self.inner;
        let dir = dir.as_ref();
        let _m = inner.maintenance.lock();
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut out = Vec::new();
        for b in inner.blocks.read().iter() {
            let dst = dir.join(&b.meta().ulid);
            link_tree(b.dir(), &dst)?;
            out.push(b.meta().clone());
        }
        if with_head {
            let (min, max) = (inner.head.min_time(), inner.head.max_time());
            if min <= max {
                let cm = CompactionMeta { level: 1, ..CompactionMeta::default() };
                if let Some(m) = inner.write_head_block(dir, min, max.saturating_add(1), cm)? {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// Stops the background thread and closes the WAL (fsynced). Data in the head stays in the
    /// WAL for the next open.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        drop(self.stop.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        // Holding the WAL lock keeps commits out between the cut and the snapshot.
        let mut wal = inner.wal.lock();
        wal.sync()?;
        if inner.opts.snapshots() {
            let started = std::time::Instant::now();
            let written = wal
                .cut_segment()
                .map_err(Error::from)
                .and_then(|next| snapshot::write(&inner.head, &inner.dir, next).map_err(snapshot_err));
            match written {
                Ok(series) => {
                    tracing::info!(series, elapsed_ms = started.elapsed().as_millis() as u64, "head snapshot written")
                }
                // The WAL still has everything: the next start replays it all.
                Err(e) => tracing::error!(error = %e, "writing the head snapshot failed"),
            }
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "closing the database");
        }
    }
}

impl Inner {
    fn compact(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        let r = self.opts.block_range;
        // Persist the head's oldest block range while the head spans more than 1.5 ranges.
        loop {
            let (min, max) = (self.head.min_time(), self.head.max_time());
            if min > max || max - min <= r / 2 * 3 {
                break;
            }
            let start = min.div_euclid(r) * r;
            let end = start + r;
            self.persist_head_range(start, end)?;
            self.truncate_head(end)?;
        }
        let ranges = compact::ranges(r, self.opts.max_range());
        loop {
            let blocks = self.blocks.read().clone();
            let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
            let Some(group) = compact::plan(&metas, &ranges) else { break };
            let parents: Vec<Arc<dyn BlockReader>> = group.iter().map(|&i| blocks[i].clone()).collect();
            if let Err(e) = self.replace_blocks(&parents, false) {
                self.metrics.compactions_failed.fetch_add(1, Relaxed);
                return Err(e);
            }
        }
        self.apply_retention()
    }

    /// Writes the head's samples in `[mint, maxt)` as a level-1 block.
    fn persist_head_range(&self, mint: i64, maxt: i64) -> Result<()> {
        // A snapshot would bring the persisted data back into the head on the next start.
        snapshot::remove(&self.dir).map_err(snapshot_err)?;
        let cm = CompactionMeta { level: 1, ..CompactionMeta::default() };
        if let Some(meta) = self.write_head_block(&self.dir, mint, maxt, cm)? {
            let b = block::open_block(&self.dir.join(&meta.ulid))?;
            self.blocks.write().push(b);
            self.metrics.compactions.fetch_add(1, Relaxed);
            self.update_block_metrics();
            tracing::info!(ulid = %meta.ulid, mint, maxt, series = meta.stats.num_series, "persisted head block");
        }
        self.head.set_min_valid_time(maxt);
        Ok(())
    }

    fn write_head_block(&self, dir: &Path, mint: i64, maxt: i64, mut cm: CompactionMeta) -> Result<Option<BlockMeta>> {
        let head = &self.head;
        let series = head.all_series_sorted();
        let tombstones = head.tombstones.read().clone();
        let mut it = series.iter().filter_map(|s| {
            let samples = series_samples(head, s, mint, maxt, tombstones.get(s.series_ref));
            if samples.is_empty() {
                return None;
            }
            Some((s.labels(&head.symbols.read()), samples))
        });
        // The sources of a level-1 block are itself; the writer assigns the ULID, so patch it
        // in afterwards through the meta it returns.
        cm.sources.clear();
        let meta = block::write_block(dir, mint, maxt, cm, &mut it)?;
        Ok(meta)
    }

    /// Drops head data before `mint`, then checkpoints the WAL and drops old segments.
    fn truncate_head(&self, mint: i64) -> Result<()> {
        snapshot::remove(&self.dir).map_err(snapshot_err)?;
        self.head.truncate(mint);
        let last = {
            let mut wal = self.wal.lock();
            let next = wal.cut_segment()?;
            next.saturating_sub(1)
        };
        let head = &self.head;
        wal::checkpoint(&self.dir.join("wal"), last, &|r| head.series_by_ref(r).is_some(), mint)?;
        self.metrics.checkpoint_creations.fetch_add(1, Relaxed);
        let mut wal = self.wal.lock();
        wal.truncate_before(last + 1)?;
        self.metrics.wal_truncations.fetch_add(1, Relaxed);
        self.metrics.wal_size_bytes.store(wal.size_bytes(), Relaxed);
        Ok(())
    }

    /// Merges `parents` into one block and swaps it in; with `keep_level` the level is kept
    /// (tombstone cleanup rather than compaction).
    fn replace_blocks(&self, parents: &[Arc<dyn BlockReader>], keep_level: bool) -> Result<()> {
        let level = keep_level.then(|| parents.iter().map(|b| b.meta().compaction.level).max().unwrap_or(1));
        let meta = compact::merge(&self.dir, parents, level)?;
        let new_block = match &meta {
            Some(m) => Some(block::open_block(&self.dir.join(&m.ulid))?),
            None => None,
        };
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !parents.iter().any(|p| p.meta().ulid == b.meta().ulid));
            blocks.extend(new_block);
        }
        for p in parents {
            remove_block_dir(p.dir());
        }
        self.metrics.compactions.fetch_add(1, Relaxed);
        self.update_block_metrics();
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let mut doomed: Vec<Arc<dyn BlockReader>> = Vec::new();
        {
            let mut blocks = self.blocks.write();
            blocks.sort_by_key(|b| b.meta().min_time);
            if self.opts.retention_time > 0 {
                let newest =
                    blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(i64::MIN).max(self.head.max_time());
                let cutoff = newest.saturating_sub(self.opts.retention_time);
                let before = blocks.len();
                blocks.retain(|b| {
                    let keep = b.meta().max_time > cutoff;
                    if !keep {
                        doomed.push(b.clone());
                    }
                    keep
                });
                self.metrics.time_retentions.fetch_add((before - blocks.len()) as u64, Relaxed);
            }
            if self.opts.retention_size > 0 {
                // As Prometheus: blocks, WAL and head chunk files count.
                let wal_bytes = self.wal.lock().size_bytes() + self.head.chunks_disk_bytes();
                let mut total: u64 = wal_bytes + blocks.iter().map(|b| b.size_bytes()).sum::<u64>();
                while total > self.opts.retention_size && !blocks.is_empty() {
                    let b = blocks.remove(0);
                    total -= b.size_bytes();
                    doomed.push(b);
                    self.metrics.size_retentions.fetch_add(1, Relaxed);
                }
            }
        }
        for b in &doomed {
            tracing::info!(ulid = %b.meta().ulid, "deleting block past retention");
            remove_block_dir(b.dir());
        }
        self.update_block_metrics();
        Ok(())
    }

    fn update_block_metrics(&self) {
        let blocks = self.blocks.read();
        self.metrics.blocks_loaded.store(blocks.len() as i64, Relaxed);
        self.metrics.blocks_bytes.store(blocks.iter().map(|b| b.size_bytes()).sum(), Relaxed);
    }
}

/// Builds the head: loads the snapshot written at the last clean shutdown, if there is a
/// usable one, then replays the WAL it does not cover (all of it without a snapshot). A
/// snapshot that does not load or does not match the WAL is reported and removed, and the
/// whole WAL is replayed into a fresh head.
fn restore_head(dir: &Path, opts: &Options, metrics: &Arc<Metrics>, persisted: Option<i64>) -> Result<Arc<Head>> {
    let chunks_dir = dir.join("chunks_head");
    let wal_dir = dir.join("wal");
    let new_head = || -> Result<Arc<Head>> {
        let head = Head::with_chunks_dir(
            HeadOptions {
                chunk_range: opts.block_range,
                ooo_window: opts.ooo_window,
                max_exemplars: opts.max_exemplars,
                ..HeadOptions::default()
            },
            metrics.clone(),
            &chunks_dir,
        )
        .map_err(io_err(&chunks_dir))?;
        if let Some(maxt) = persisted {
            head.set_min_valid_time(maxt);
        }
        Ok(Arc::new(head))
    };
    let started = std::time::Instant::now();
    let mut head = new_head()?;
    let mut first_segment = 0;
    let loaded = if opts.max_exemplars.is_some() {
        // Exemplars are not in snapshots: with exemplar storage the whole WAL is replayed,
        // and a snapshot left from a run without it is stale.
        snapshot::remove(dir).map_err(snapshot_err)?;
        Ok(None)
    } else {
        snapshot::load(&head, dir)
    };
    let loaded = loaded.and_then(|l| match l {
        Some(l) if !wal::can_replay_from(&wal_dir, l.first_segment).unwrap_or(false) => {
            Err(snapshot::SnapshotError::Corrupt { offset: 0, msg: "does not match the WAL".into() })
        }
        l => Ok(l),
    });
    match loaded {
        Ok(None) => {}
        Ok(Some(l)) => {
            first_segment = l.first_segment;
            tracing::info!(
                series = l.series,
                first_segment,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "head snapshot loaded"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "head snapshot unusable; removing it and replaying the whole WAL");
            metrics.snapshot_replay_errors.fetch_add(1, Relaxed);
            drop(head);
            snapshot::remove(dir).map_err(snapshot_err)?;
            head = new_head()?;
        }
    }
    let workers = if opts.wal_replay_workers == 0 { Replayer::default_workers() } else { opts.wal_replay_workers };
    let mut replayer = Replayer::new(head.clone(), workers);
    let stats = wal::replay_from(&wal_dir, &opts.replay_progress, first_segment, &mut |rec| replayer.apply(rec))?;
    let counts = replayer.finish();
    metrics.wal_corruptions.fetch_add(stats.corruptions, Relaxed);
    if counts.unknown_refs > 0 {
        tracing::warn!(samples = counts.unknown_refs, "WAL samples for unknown series dropped on replay");
    }
    tracing::info!(
        records = stats.records,
        samples = counts.samples,
        series = head.num_series(),
        workers,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "WAL replay done"
    );
    Ok(head)
}

fn snapshot_err(e: snapshot::SnapshotError) -> Error {
    match e {
        snapshot::SnapshotError::Io { path, source } => Error::Io { path, source },
        e => Error::Io { path: PathBuf::from(snapshot::FILE_NAME), source: std::io::Error::other(e.to_string()) },
    }
}

/// The samples of a head series in `[mint, maxt)`, merged with its out-of-order samples and
/// without deleted ones.
fn series_samples(
    head: &Head,
    s: &MemSeries,
    mint: i64,
    maxt: i64,
    tomb: Option<&crate::tsdb::tombstones::Intervals>,
) -> Vec<(i64, f64)> {
    let d = s.data.lock();
    let mut out = Vec::new();
    for c in &d.sealed {
        if c.max_t >= mint && c.min_t < maxt {
            let bytes = head.chunk_bytes(c);
            out.extend(XorIterator::new(bytes.as_slice()).filter(|x| x.0 >= mint && x.0 < maxt));
        }
    }
    if let Some(c) = &d.open {
        out.extend(c.iter().filter(|x| x.0 >= mint && x.0 < maxt));
    }
    let lo = d.ooo.partition_point(|x| x.0 < mint);
    let hi = d.ooo.partition_point(|x| x.0 < maxt);
    if lo < hi {
        let ooo = d.ooo[lo..hi].to_vec();
        out = merge_dedup(vec![out, ooo]);
    }
    drop(d);
    if let Some(iv) = tomb {
        out.retain(|x| !iv.contains(x.0));
    }
    out
}

/// Opens every block directory under `dir`; drops blocks superseded by a compaction that
/// finished writing but crashed before deleting its parents.
fn load_blocks(dir: &Path) -> Result<Vec<Arc<dyn BlockReader>>> {
    let mut blocks: Vec<Arc<dyn BlockReader>> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !path.is_dir() || ulid::Ulid::from_string(&name).is_err() {
            continue;
        }
        match block::open_block(&path) {
            Ok(b) => blocks.push(b),
            Err(e) => tracing::error!(block = %path.display(), error = %e, "skipping unreadable block"),
        }
    }
    let parents: std::collections::HashSet<String> =
        blocks.iter().flat_map(|b| b.meta().compaction.parents.clone()).collect();
    blocks.retain(|b| {
        let superseded = parents.contains(&b.meta().ulid);
        if superseded {
            remove_block_dir(b.dir());
        }
        !superseded
    });
    blocks.sort_by_key(|b| b.meta().min_time);
    Ok(blocks)
}

fn remove_block_dir(dir: &Path) {
    // Rename first so a crash mid-delete never leaves a half-deleted block that loads: a
    // `*.tmp` directory is what `block::delete_leftovers` removes on the next open.
    let tmp = dir.with_extension("tmp");
    let target = if fs::rename(dir, &tmp).is_ok() { tmp } else { dir.to_path_buf() };
    if let Err(e) = fs::remove_dir_all(&target) {
        tracing::warn!(dir = %target.display(), error = %e, "removing block directory");
    }
}

/// Hard-links (or copies, across file systems) the files of `src` into `dst`.
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(io_err(dst))?;
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if from.is_dir() {
            link_tree(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io_err(&to))?;
        }
    }
    Ok(())
}
