//! Label sets: sorted, validated name/value pairs identifying a series.

use std::fmt;

/// The label name that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and a value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value.
    pub value: String,
}

impl Label {
    /// Builds a label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// Why a label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelsError {
    /// The same label name appears twice.
    #[error("label set has duplicate label names: {0:?}")]
    DuplicateName(String),
    /// A label has an empty name.
    #[error("label set has an empty label name")]
    EmptyName,
    /// No labels at all (after dropping empty values).
    #[error("empty labelset")]
    Empty,
}

/// A set of labels sorted by name with unique names.
///
/// Labels with empty values are dropped on construction: Prometheus treats an empty value as
/// the label being absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set, sorting it and dropping empty values.
    ///
    /// Fails on duplicate or empty names. An empty result is allowed here (matchers and
    /// queries build empty sets); the appender rejects it.
    pub fn new(mut labels: Vec<Label>) -> Result<Self, LabelsError> {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for (i, l) in labels.iter().enumerate() {
            if l.name.is_empty() {
                return Err(LabelsError::EmptyName);
            }
            if i > 0 && labels[i - 1].name == l.name {
                return Err(LabelsError::DuplicateName(l.name.clone()));
            }
        }
        Ok(Labels(labels))
    }

    /// Builds a label set from `(name, value)` pairs; see [`Labels::new`].
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Result<Self, LabelsError> {
        Self::new(pairs.iter().map(|(n, v)| Label::new(n.as_ref(), v.as_ref())).collect())
    }

    /// Wraps labels already known to be sorted, unique and free of empty values.
    ///
    /// Used by decoders that have validated their input; a debug build checks the invariant.
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    #[inline]
    pub fn metric_name(&self) -> Option<&str> {
        // `__name__` sorts before every lower-case name, so it is usually first.
        match self.0.first() {
            Some(l) if l.name == METRIC_NAME => Some(&l.value),
            _ => self.get(METRIC_NAME),
        }
    }

    /// The labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// The labels as a slice, in name order.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set, returning its labels in name order.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A stable 64-bit fingerprint (XXH64 over `name 0xff value 0xff ...`, as Prometheus's
    /// `labels.Hash`). Equal sets hash equally across processes and versions.
    pub fn stable_hash(&self) -> u64 {
        stable_hash_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// A copy without the labels named in `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(self.0.iter().filter(|l| !names.contains(&l.name.as_str())).cloned().collect())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    /// Renders as Prometheus does: `{a="1", b="2"}` with Go-style escaping of values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// [`Labels::stable_hash`] of label pairs that are already sorted by name and unique (as sent
/// by a remote-write sender), without building the label set.
pub fn stable_hash_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    // Prometheus's `labels.Hash`: xxHash64 of `name 0xff value 0xff ...`. Hashed in one call
    // over a reused buffer: the streaming hasher costs several times more on short pieces.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        for (name, value) in pairs {
            buf.extend_from_slice(name.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(value.as_bytes());
            buf.push(0xff);
        }
        let h = xxhash_rust::xxh64::xxh64(buf, 0);
        if buf.capacity() > 1 << 16 {
            // One huge label set should not pin its buffer for the thread's life.
            *buf = Vec::new();
        }
        h
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_drops_empty_and_validates() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        assert_eq!(l.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
        assert_eq!(Labels::from_pairs(&[("a", "1"), ("a", "2")]), Err(LabelsError::DuplicateName("a".into())));
        assert_eq!(Labels::from_pairs(&[("", "1")]), Err(LabelsError::EmptyName));
    }

    #[test]
    fn stable_hash_is_xxhash64_of_the_separated_pairs() {
        // Prometheus's labels.Hash, computed piece by piece with the streaming hasher.
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "node\u{e9}"), ("le", "+Inf")]).unwrap();
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for piece in ["__name__", "up", "job", "node\u{e9}", "le", "+Inf"] {
            h.update(piece.as_bytes());
            h.update(&[0xff]);
        }
        assert_eq!(l.stable_hash(), h.digest());
        // A label set larger than the reused buffer keeps.
        let long = "x".repeat(100_000);
        let big = Labels::from_pairs(&[("a", long.as_str())]).unwrap();
        let mut bytes = b"a\xff".to_vec();
        bytes.extend_from_slice(long.as_bytes());
        bytes.push(0xff);
        assert_eq!(big.stable_hash(), xxhash_rust::xxh64::xxh64(&bytes, 0));
        assert_eq!(l.stable_hash(), h.digest(), "the same after the buffer was dropped");
    }

    #[test]
    fn stable_hash_depends_on_content_not_order() {
        let a = Labels::from_pairs(&[("a", "1"), ("b", "2")]).unwrap();
        let b = Labels::from_pairs(&[("b", "2"), ("a", "1")]).unwrap();
        let c = Labels::from_pairs(&[("a", "1"), ("b", "3")]).unwrap();
        assert_eq!(a.stable_hash(), b.stable_hash());
        assert_ne!(a.stable_hash(), c.stable_hash());
        // The separator keeps "ab"="" from colliding with "a"="b".
        let d = Labels::from_pairs(&[("a", "b1")]).unwrap();
        let e = Labels::from_pairs(&[("ab", "1")]).unwrap();
        assert_ne!(d.stable_hash(), e.stable_hash());
    }

    #[test]
    fn display_escapes_values() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("x", "a\"b")]).unwrap();
        assert_eq!(l.to_string(), r#"{__name__="up", x="a\"b"}"#);
    }
}
