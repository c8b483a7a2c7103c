//! Segment files: names, directory listing, the record frame, and fsync helpers.
//!
//! A frame is `[len: u32 LE][crc32c(len bytes ‖ payload): u32 LE][payload]`; see
//! `docs/format/wal.md`.

use super::record::{self, Record};
use super::{MAX_RECORD_SIZE, WalError};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes of a frame header: length and CRC.
pub(crate) const FRAME_HEADER: usize = 8;

/// Prefix of checkpoint directory names.
const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// Suffix of checkpoint directories still being written.
const TMP_SUFFIX: &str = ".tmp";

/// The file name of segment `i`.
pub(crate) fn segment_name(i: u32) -> String {
    format!("{i:08}")
}

/// The directory name of checkpoint `i`.
pub(crate) fn checkpoint_name(i: u32) -> String {
    format!("{CHECKPOINT_PREFIX}{i:08}")
}

/// Parses an all-digit name as an index.
fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Wraps an I/O error with the path it happened on.
pub(crate) fn io_err(path: &Path, source: std::io::Error) -> WalError {
    WalError::Io { path: path.to_path_buf(), source }
}

/// What a WAL (or checkpoint) directory holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Segment indexes, ascending.
    pub segments: Vec<u32>,
    /// Finished checkpoint indexes, ascending.
    pub checkpoints: Vec<u32>,
    /// Leftover `checkpoint.*.tmp` directories.
    pub tmp: Vec<PathBuf>,
}

/// Lists `dir`, ignoring entries that are neither segments nor checkpoints.
pub(crate) fn list_dir(dir: &Path) -> Result<Listing, WalError> {
    let mut l = Listing::default();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let ft = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if ft.is_file() {
            if let Some(i) = parse_index(name) {
                l.segments.push(i);
            }
        } else if ft.is_dir()
            && let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX)
        {
            if rest.ends_with(TMP_SUFFIX) {
                l.tmp.push(entry.path());
            } else if let Some(i) = parse_index(rest) {
                l.checkpoints.push(i);
            }
        }
    }
    l.segments.sort_unstable();
    l.checkpoints.sort_unstable();
    Ok(l)
}

/// fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err(dir, e))
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for fsync on this platform.
        let _ = dir;
        Ok(())
    }
}

/// Appends one frame holding `payload` to `buf`. The caller has checked
/// `1 <= payload.len() <= MAX_RECORD_SIZE`.
pub(crate) fn append_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    // MAX_RECORD_SIZE is below u32::MAX, so the length fits.
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Parses the frame at the start of `data`: its payload and total length, or why it is bad.
/// `data` must not be empty.
pub(crate) fn parse_frame(data: &[u8]) -> Result<(&[u8], usize), String> {
    let Some((header, rest)) = data.split_first_chunk::<FRAME_HEADER>() else {
        return Err(format!("torn frame header ({} of {FRAME_HEADER} bytes)", data.len()));
    };
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let want_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 {
        return Err("zero-length frame".into());
    }
    if len > MAX_RECORD_SIZE {
        return Err(format!("frame length {len} above the maximum {MAX_RECORD_SIZE}"));
    }
    let Some(payload) = rest.get(..len) else {
        return Err(format!("torn frame: {len} bytes announced, {} present", rest.len()));
    };
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload);
    if crc != want_crc {
        return Err(format!("crc mismatch: stored {want_crc:#010x}, computed {crc:#010x}"));
    }
    Ok((payload, FRAME_HEADER + len))
}

/// Where and why a segment stopped being readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadFrame {
    /// Byte offset of the first bad frame.
    pub offset: u64,
    /// What was wrong with it.
    pub msg: String,
}

/// Reads the segment at `path` whole into `buf` (reused across calls) and hands each record,
/// unknown ones included, to `f`, in order. Stops at the first bad frame or undecodable
/// record and returns where it is; `Ok(None)` means the segment was read to its end.
pub(crate) fn read_segment(
    path: &Path,
    buf: &mut Vec<u8>,
    f: &mut dyn FnMut(Record),
) -> Result<Option<BadFrame>, WalError> {
    buf.clear();
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    if let Ok(md) = file.metadata() {
        buf.reserve(usize::try_from(md.len()).unwrap_or(0));
    }
    file.read_to_end(buf).map_err(|e| io_err(path, e))?;
    let mut off = 0usize;
    while let Some(data) = buf.get(off..).filter(|d| !d.is_empty()) {
        let bad = |msg: String| Ok(Some(BadFrame { offset: off as u64, msg }));
        match parse_frame(data) {
            Err(msg) => return bad(msg),
            Ok((payload, used)) => match record::decode(payload) {
                Ok(rec) => {
                    f(rec);
                    off += used;
                }
                Err(e) => return bad(e.to_string()),
            },
        }
    }
    Ok(None)
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_file(path: &Path) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

/// Removes a directory tree, treating "already gone" as success.
pub(crate) fn remove_dir_all(path: &Path) -> Result<(), WalError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        append_frame(&mut b, payload);
        b
    }

    #[test]
    fn frame_layout() {
        let f = frame(&[2]);
        // Length 1, little-endian, then the CRC over the length bytes and the payload.
        assert_eq!(&f[..4], &[1, 0, 0, 0]);
        let crc = crc32c::crc32c(&[1, 0, 0, 0, 2]);
        assert_eq!(&f[4..8], &crc.to_le_bytes());
        assert_eq!(&f[8..], &[2]);
        assert_eq!(parse_frame(&f), Ok((&[2u8][..], 9)));
    }

    #[test]
    fn bad_frames() {
        let good = frame(&[3, 1, 2, 3]);
        let mut crc_bad = good.clone();
        crc_bad[5] ^= 1;
        let mut len_bad = good.clone();
        len_bad[0] = 3;
        let cases: &[(&str, Vec<u8>)] = &[
            ("short header", good[..7].to_vec()),
            ("zeros", vec![0; 16]),
            ("torn payload", good[..good.len() - 1].to_vec()),
            ("crc", crc_bad),
            ("length", len_bad),
            ("huge length", vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1]),
        ];
        for (name, data) in cases {
            assert!(parse_frame(data).is_err(), "{name}");
        }
    }

    #[test]
    fn names_and_listing() {
        assert_eq!(segment_name(42), "00000042");
        assert_eq!(checkpoint_name(7), "checkpoint.00000007");
        assert_eq!(parse_index("00000042"), Some(42));
        assert_eq!(parse_index("123456789"), Some(123456789));
        for bad in ["", "12a", "-1", "+1", "99999999999"] {
            assert_eq!(parse_index(bad), None, "{bad}");
        }
        let d = tempfile::tempdir().unwrap();
        for f in ["00000003", "00000001", "junk", "00000002.bak"] {
            fs::write(d.path().join(f), b"").unwrap();
        }
        for c in ["checkpoint.00000002", "checkpoint.00000000", "checkpoint.00000005.tmp"] {
            fs::create_dir(d.path().join(c)).unwrap();
        }
        // A file with a checkpoint name and a directory with a segment name are ignored.
        fs::write(d.path().join("checkpoint.00000009"), b"").unwrap();
        fs::create_dir(d.path().join("00000009")).unwrap();
        let l = list_dir(d.path()).unwrap();
        assert_eq!(l.segments, [1, 3]);
        assert_eq!(l.checkpoints, [0, 2]);
        assert_eq!(l.tmp, [d.path().join("checkpoint.00000005.tmp")]);
    }
}
