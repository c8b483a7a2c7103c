//! Selecting series ids by label matchers over any index (head or block).
//!
//! The plan: each matcher yields a candidate set; sets are intersected smallest first.
//! Matchers that also match the empty string (`a=""`, `a!="x"`, `a!~"..."`, `a=~".*"`) select
//! series *without* the label too, so they are applied by subtracting the series whose value
//! fails the matcher.

use crate::model::{MatchType, Matcher};
use roaring::RoaringTreemap;

/// What the planner needs from an index.
pub(crate) trait IndexLookup {
    /// Error type of lookups.
    type Err;
    /// Every value of `name`, sorted.
    fn values(&self, name: &str) -> Result<Vec<String>, Self::Err>;
    /// Series having `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Result<RoaringTreemap, Self::Err>;
    /// Every series.
    fn all(&self) -> Result<RoaringTreemap, Self::Err>;
}

/// The series of `ix` selected by all `matchers` (all series when `matchers` is empty).
pub(crate) fn select<I: IndexLookup>(ix: &I, matchers: &[Matcher]) -> Result<RoaringTreemap, I::Err> {
    let mut positive: Vec<RoaringTreemap> = Vec::new();
    let mut negative: Vec<RoaringTreemap> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            // Series without the label match; subtract those whose value fails.
            let set = match m.kind {
                MatchType::NotEqual => ix.postings(&m.name, &m.value)?,
                MatchType::Equal if m.value.is_empty() => union_values(ix, m, |_| true)?,
                _ => union_values(ix, m, |v| !m.matches(v))?,
            };
            negative.push(set);
        } else {
            let set = match m.set_matches() {
                Some(values) => {
                    let mut acc = RoaringTreemap::new();
                    for v in values {
                        acc |= ix.postings(&m.name, v)?;
                    }
                    acc
                }
                None => union_values(ix, m, |v| m.matches(v))?,
            };
            if set.is_empty() {
                return Ok(RoaringTreemap::new());
            }
            positive.push(set);
        }
    }
    positive.sort_by_key(|s| s.len());
    let mut it = positive.into_iter();
    let mut acc = match it.next() {
        Some(first) => first,
        None => ix.all()?,
    };
    for s in it {
        acc &= s;
        if acc.is_empty() {
            return Ok(acc);
        }
    }
    for s in negative {
        acc -= s;
    }
    Ok(acc)
}

/// Union of postings of the values of `m.name` for which `keep` holds, using the matcher's
/// literal prefix to narrow the scan of the sorted values.
fn union_values<I: IndexLookup>(ix: &I, m: &Matcher, keep: impl Fn(&str) -> bool) -> Result<RoaringTreemap, I::Err> {
    let values = ix.values(&m.name)?;
    let prefix = if m.kind == MatchType::Regex { m.prefix() } else { "" };
    let start = values.partition_point(|v| v.as_str() < prefix);
    let mut acc = RoaringTreemap::new();
    for v in &values[start..] {
        if !v.starts_with(prefix) {
            break;
        }
        if keep(v) {
            acc |= ix.postings(&m.name, v)?;
        }
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A brute-force index: series id → labels.
    struct Model(Vec<Vec<(&'static str, &'static str)>>);

    impl IndexLookup for Model {
        type Err = ();
        fn values(&self, name: &str) -> Result<Vec<String>, ()> {
            let mut v: Vec<String> =
                self.0.iter().flat_map(|s| s.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.to_string())).collect();
            v.sort();
            v.dedup();
            Ok(v)
        }
        fn postings(&self, name: &str, value: &str) -> Result<RoaringTreemap, ()> {
            Ok(self
                .0
                .iter()
                .enumerate()
                .filter(|(_, s)| s.iter().any(|&(n, v)| n == name && v == value))
                .map(|(i, _)| i as u64)
                .collect())
        }
        fn all(&self) -> Result<RoaringTreemap, ()> {
            Ok((0..self.0.len() as u64).collect())
        }
    }

    #[test]
    fn select_agrees_with_brute_force() {
        let model = Model(vec![
            vec![("__name__", "up"), ("job", "a"), ("instance", "x")],
            vec![("__name__", "up"), ("job", "b"), ("instance", "y")],
            vec![("__name__", "up"), ("job", "bb")],
            vec![("__name__", "rate"), ("job", "a")],
            vec![("__name__", "foo")],
        ]);
        let ms = |specs: &[(MatchType, &str, &str)]| -> Vec<Matcher> {
            specs.iter().map(|&(k, n, v)| Matcher::new(k, n, v).unwrap()).collect()
        };
        use MatchType::*;
        let cases: Vec<Vec<(MatchType, &str, &str)>> = vec![
            vec![(Equal, "__name__", "up")],
            vec![(Equal, "__name__", "up"), (Equal, "job", "a")],
            vec![(Equal, "__name__", "up"), (NotEqual, "job", "a")],
            vec![(Regex, "job", "b.*")],
            vec![(Regex, "job", "a|bb")],
            vec![(NotRegex, "job", "b.*")],
            vec![(Equal, "instance", "")],
            vec![(Equal, "__name__", "up"), (Equal, "instance", "")],
            vec![(Regex, "instance", ".*")],
            vec![(Regex, "instance", ".+")],
            vec![(NotRegex, "instance", ".+"), (Regex, "__name__", ".+")],
            vec![(Equal, "job", "zzz")],
            vec![(NotEqual, "nope", "")],
        ];
        for spec in cases {
            let matchers = ms(&spec);
            let got: Vec<u64> = select(&model, &matchers).unwrap().iter().collect();
            let want: Vec<u64> = model
                .0
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    let lbl: BTreeMap<&str, &str> = s.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
                    matchers.iter().all(|m| m.matches(lbl.get(m.name.as_str()).copied().unwrap_or("")))
                })
                .map(|(i, _)| i as u64)
                .collect();
            assert_eq!(got, want, "{spec:?}");
        }
    }
}
