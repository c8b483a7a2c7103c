//! A remote write 1.0 `WriteRequest` decoded without copying: label names and values borrow
//! the decompressed body, and every series, sample, exemplar and metadata entry lands in a few
//! flat vectors (a handful of allocations per request instead of two `String`s per label).
//!
//! The receiver's hot path uses it: an existing series is then found by its borrowed labels and
//! nothing about it is allocated. [`FlatWrite::decode`] accepts exactly the messages `prost`
//! decodes the same way, or refuses; a refusal is answered by decoding with `prost` (its error
//! text is the one senders see, and [`FlatWrite::from_request`] covers anything this decoder
//! is stricter about). The fuzz target `remote_write_decode` checks both agree.

use super::pb::prometheus as pb;

/// A decoded `WriteRequest`, borrowing its strings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlatWrite<'a> {
    /// Label pairs of all series, series after series.
    pub pairs: Vec<(&'a str, &'a str)>,
    /// `(timestamp, value)` of all series, series after series.
    pub samples: Vec<(i64, f64)>,
    /// Exemplars of all series, series after series.
    pub exemplars: Vec<FlatExemplar>,
    /// Label pairs of all exemplars, exemplar after exemplar.
    pub exemplar_pairs: Vec<(&'a str, &'a str)>,
    /// Where each series' parts end in the vectors above.
    pub series: Vec<FlatSeries>,
    /// The metadata entries.
    pub metadata: Vec<FlatMetadata<'a>>,
}

/// The ends (exclusive) of one series' parts in the [`FlatWrite`] vectors.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlatSeries {
    /// End in [`FlatWrite::pairs`].
    pub pairs_end: usize,
    /// End in [`FlatWrite::samples`].
    pub samples_end: usize,
    /// End in [`FlatWrite::exemplars`].
    pub exemplars_end: usize,
    /// Native histogram samples of the series (counted, not stored).
    pub histograms: usize,
}

/// One exemplar; its labels are `pairs_start..pairs_end` of [`FlatWrite::exemplar_pairs`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct FlatExemplar {
    /// Start in [`FlatWrite::exemplar_pairs`].
    pub pairs_start: usize,
    /// End in [`FlatWrite::exemplar_pairs`].
    pub pairs_end: usize,
    /// The value.
    pub value: f64,
    /// The timestamp (ms).
    pub timestamp: i64,
}

/// One `MetricMetadata` entry.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlatMetadata<'a> {
    /// The `MetricType` enum value.
    pub kind: i32,
    /// `metric_family_name`.
    pub name: &'a str,
    /// `help`.
    pub help: &'a str,
    /// `unit`.
    pub unit: &'a str,
}

/// One series of a [`FlatWrite`], as slices.
#[derive(Debug, Clone, Copy)]
pub struct SeriesParts<'w, 'a> {
    /// Label pairs as sent.
    pub pairs: &'w [(&'a str, &'a str)],
    /// Samples as sent.
    pub samples: &'w [(i64, f64)],
    /// Exemplars as sent (labels through [`FlatWrite::exemplar_labels`]).
    pub exemplars: &'w [FlatExemplar],
    /// Native histogram samples (counted only).
    pub histograms: usize,
}

/// Why the borrowed decoder gave up (the caller then asks `prost`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// A cursor over protobuf bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Refused> {
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                // The tenth byte may only carry the top bit of a u64 (as prost requires).
                if i == 9 && b > 1 {
                    return Err(Refused);
                }
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err(Refused)
    }

    fn fixed64(&mut self) -> Result<u64, Refused> {
        let (head, rest) = self.buf.split_first_chunk::<8>().ok_or(Refused)?;
        self.buf = rest;
        Ok(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Refused> {
        let len = usize::try_from(self.varint()?).map_err(|_| Refused)?;
        if len > self.buf.len() {
            return Err(Refused);
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(b)
    }

    fn str(&mut self) -> Result<&'a str, Refused> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Refused)
    }

    /// The next field's number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u64)>, Refused> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let k = self.varint()?;
        let (field, wire) = (k >> 3, k & 7);
        if field == 0 || k > u64::from(u32::MAX) {
            return Err(Refused);
        }
        Ok(Some((field, wire)))
    }

    /// Skips a field this decoder does not keep (groups are refused).
    fn skip(&mut self, wire: u64) -> Result<(), Refused> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => {
                let (_, rest) = self.buf.split_first_chunk::<4>().ok_or(Refused)?;
                self.buf = rest;
                Ok(())
            }
            _ => Err(Refused),
        }
    }
}

/// Parses a `Label` message into its name and value.
fn label(buf: &[u8]) -> Result<(&str, &str), Refused> {
    let mut r = Reader { buf };
    let (mut name, mut value) = ("", "");
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => name = r.str()?,
            (2, LEN) => value = r.str()?,
            (1 | 2, _) => return Err(Refused),
            _ => r.skip(wire)?,
        }
    }
    Ok((name, value))
}

impl<'a> FlatWrite<'a> {
    /// Decodes a protobuf `WriteRequest` (already decompressed), borrowing its strings; refuses
    /// anything malformed and the rare shapes it leaves to `prost` (groups, native histograms).
    pub fn decode(buf: &'a [u8]) -> Result<FlatWrite<'a>, Refused> {
        // Sized for a typical body (a series of about ten labels and one sample takes some
        // 200 bytes), so the vectors rarely grow.
        let mut w = FlatWrite {
            pairs: Vec::with_capacity(buf.len() / 24),
            samples: Vec::with_capacity(buf.len() / 200),
            series: Vec::with_capacity(buf.len() / 200),
            ..FlatWrite::default()
        };
        let mut r = Reader { buf };
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, LEN) => {
                    let ts = r.bytes()?;
                    w.series(ts)?;
                }
                (3, LEN) => {
                    let md = r.bytes()?;
                    w.metadata.push(metadata(md)?);
                }
                (1 | 3, _) => return Err(Refused),
                _ => r.skip(wire)?,
            }
        }
        Ok(w)
    }

    fn series(&mut self, buf: &'a [u8]) -> Result<(), Refused> {
        let mut r = Reader { buf };
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, LEN) => self.pairs.push(label(r.bytes()?)?),
                (2, LEN) => self.samples.push(sample(r.bytes()?)?),
                (3, LEN) => {
                    let ex = r.bytes()?;
                    self.exemplar(ex)?;
                }
                // Native histograms (rare, and only counted) are left to `prost`, which also
                // checks their contents.
                (4, _) => return Err(Refused),
                (1..=3, _) => return Err(Refused),
                _ => r.skip(wire)?,
            }
        }
        self.series.push(FlatSeries {
            pairs_end: self.pairs.len(),
            samples_end: self.samples.len(),
            exemplars_end: self.exemplars.len(),
            histograms: 0,
        });
        Ok(())
    }

    fn exemplar(&mut self, buf: &'a [u8]) -> Result<(), Refused> {
        let mut r = Reader { buf };
        let mut ex = FlatExemplar { pairs_start: self.exemplar_pairs.len(), ..FlatExemplar::default() };
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, LEN) => self.exemplar_pairs.push(label(r.bytes()?)?),
                (2, FIXED64) => ex.value = f64::from_bits(r.fixed64()?),
                (3, VARINT) => ex.timestamp = r.varint()? as i64,
                (1..=3, _) => return Err(Refused),
                _ => r.skip(wire)?,
            }
        }
        ex.pairs_end = self.exemplar_pairs.len();
        self.exemplars.push(ex);
        Ok(())
    }

    /// The flat form of a request `prost` decoded (for bodies [`FlatWrite::decode`] refused).
    pub fn from_request(req: &'a pb::WriteRequest) -> FlatWrite<'a> {
        let mut w = FlatWrite::default();
        for ts in &req.timeseries {
            w.pairs.extend(ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
            w.samples.extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            for e in &ts.exemplars {
                let pairs_start = w.exemplar_pairs.len();
                w.exemplar_pairs.extend(e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
                w.exemplars.push(FlatExemplar {
                    pairs_start,
                    pairs_end: w.exemplar_pairs.len(),
                    value: e.value,
                    timestamp: e.timestamp,
                });
            }
            w.series.push(FlatSeries {
                pairs_end: w.pairs.len(),
                samples_end: w.samples.len(),
                exemplars_end: w.exemplars.len(),
                histograms: ts.histograms.len(),
            });
        }
        w.metadata.extend(req.metadata.iter().map(|m| FlatMetadata {
            kind: m.r#type,
            name: &m.metric_family_name,
            help: &m.help,
            unit: &m.unit,
        }));
        w
    }

    /// The series, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = SeriesParts<'_, 'a>> {
        let mut start = FlatSeries::default();
        self.series.iter().map(move |end| {
            let parts = SeriesParts {
                pairs: &self.pairs[start.pairs_end..end.pairs_end],
                samples: &self.samples[start.samples_end..end.samples_end],
                exemplars: &self.exemplars[start.exemplars_end..end.exemplars_end],
                histograms: end.histograms,
            };
            start = *end;
            parts
        })
    }

    /// The label pairs of exemplar `e` (one of this request's).
    pub fn exemplar_labels(&self, e: &FlatExemplar) -> &[(&'a str, &'a str)] {
        self.exemplar_pairs.get(e.pairs_start..e.pairs_end).unwrap_or_default()
    }
}

fn sample(buf: &[u8]) -> Result<(i64, f64), Refused> {
    let mut r = Reader { buf };
    let (mut t, mut v) = (0i64, 0f64);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, FIXED64) => v = f64::from_bits(r.fixed64()?),
            (2, VARINT) => t = r.varint()? as i64,
            (1 | 2, _) => return Err(Refused),
            _ => r.skip(wire)?,
        }
    }
    Ok((t, v))
}

fn metadata(buf: &[u8]) -> Result<FlatMetadata<'_>, Refused> {
    let mut r = Reader { buf };
    let mut m = FlatMetadata::default();
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            // prost keeps an enum as the low 32 bits of the varint.
            (1, VARINT) => m.kind = r.varint()? as i32,
            (2, LEN) => m.name = r.str()?,
            (4, LEN) => m.help = r.str()?,
            (5, LEN) => m.unit = r.str()?,
            (1 | 2 | 4 | 5, _) => return Err(Refused),
            _ => r.skip(wire)?,
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests;
