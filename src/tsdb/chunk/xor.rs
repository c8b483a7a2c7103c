use super::ChunkError;

/// An appendable Gorilla XOR chunk.
///
/// Layout: a 2-byte big-endian sample count, then the bit stream (first timestamp as varint,
/// first value as 64 raw bits, second timestamp delta as uvarint, then delta-of-delta
/// timestamps and XOR'd values), as Prometheus's `chunkenc.XORChunk`.
#[derive(Clone, Debug, Default)]
pub struct XorChunk {
    bytes: Vec<u8>,
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        XorChunk { bytes: vec![0, 0] }
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last timestamp.
    pub fn append(&mut self, _t: i64, _v: f64) {}

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        0
    }

    /// The encoded bytes (count header + bit stream), valid for [`XorIterator::new`].
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Timestamp of the first sample, if any.
    pub fn first_time(&self) -> Option<i64> {
        None
    }

    /// The last sample appended, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        None
    }

    /// Iterates the samples.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.bytes)
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_size(&self) -> usize {
        self.bytes.capacity()
    }

    /// Releases spare capacity once the chunk is full.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

/// Iterates a XOR chunk's encoded bytes. Never panics on corrupt input: it stops and reports
/// the fault through [`XorIterator::err`].
pub struct XorIterator<'a> {
    _bytes: &'a [u8],
    err: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    /// Iterates `bytes` as produced by [`XorChunk::bytes`].
    pub fn new(bytes: &'a [u8]) -> Self {
        XorIterator { _bytes: bytes, err: None }
    }

    /// The fault that stopped iteration early, if any.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}

impl Iterator for XorIterator<'_> {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        None
    }
}
