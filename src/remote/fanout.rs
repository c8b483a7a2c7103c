//! Queries over local storage plus `remote_read` endpoints, merged as Prometheus's fanout
//! storage merges them.
//!
//! Principal items: [`Fanout`] (a [`Queryable`] over the local TSDB and the remote sources),
//! [`RemoteSource`] (one `remote_read` endpoint, behind its policy: `required_matchers`,
//! `read_recent`, external-label filtering) and [`merge`] (series from several sources with
//! equal label sets become one series; samples at the same timestamp are kept once, the
//! first source's value winning, local storage first).

use crate::model::{Label, Labels, MatchType, Matcher};
use crate::promql::engine::{Queryable, SelectResult};
use std::collections::BTreeMap;

/// One `remote_read` endpoint as the fanout sees it.
pub trait RemoteSource: Send + Sync {
    /// The series matching `matchers` with samples in `[mint, maxt]`, sorted by labels.
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<SelectResult, String>;
}

/// When and how a remote source is asked.
#[derive(Clone, Debug, Default)]
pub struct ReadPolicy {
    /// Only asked when the query has an equality matcher for each of these (`required_matchers`).
    pub required_matchers: BTreeMap<String, String>,
    /// Also asked for time ranges local storage covers (`read_recent`).
    pub read_recent: bool,
    /// External labels: sent as equality matchers and removed from the answers
    /// (`filter_external_labels`), then added back onto every series.
    pub external_labels: Labels,
    /// Whether external labels are sent as matchers.
    pub filter_external_labels: bool,
}

/// Remote sources with their policies, as the server keeps them.
pub type RemoteReaders = Vec<(ReadPolicy, Box<dyn RemoteSource>)>;

/// Local storage plus remote sources.
pub struct Fanout<'a, L: Queryable> {
    /// Local storage.
    pub local: &'a L,
    /// The oldest timestamp local storage holds (ms); `None` when it is empty.
    pub local_start: Option<i64>,
    /// Remote sources with their policies.
    pub remotes: &'a [(ReadPolicy, Box<dyn RemoteSource>)],
}

impl<L: Queryable> Queryable for Fanout<'_, L> {
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<SelectResult, String> {
        let mut sets = vec![self.local.select(mint, maxt, matchers)?];
        for (policy, source) in self.remotes {
            let Some((lo, hi)) = remote_range(mint, maxt, self.local_start, policy.read_recent) else {
                continue;
            };
            if !required_matchers_met(matchers, &policy.required_matchers) {
                continue;
            }
            let mut ms = matchers.to_vec();
            if policy.filter_external_labels {
                for l in policy.external_labels.iter() {
                    ms.push(Matcher::equal(l.name.clone(), l.value.clone()));
                }
            }
            let got = source.select(lo, hi, &ms)?;
            sets.push(with_external_labels(got, &policy.external_labels));
        }
        Ok(merge(sets))
    }
}

/// The range a remote source is asked for: all of `[mint, maxt]` with `read_recent`, else
/// only the part before local storage's oldest sample (nothing if there is none).
pub fn remote_range(mint: i64, maxt: i64, local_start: Option<i64>, read_recent: bool) -> Option<(i64, i64)> {
    if read_recent {
        return Some((mint, maxt));
    }
    let hi = match local_start {
        Some(start) => maxt.min(start.saturating_sub(1)),
        None => maxt,
    };
    (hi >= mint).then_some((mint, hi))
}

/// Whether `matchers` include `name="value"` for every required pair.
pub fn required_matchers_met(matchers: &[Matcher], required: &BTreeMap<String, String>) -> bool {
    required.iter().all(|(name, value)| {
        matchers.iter().any(|m| m.kind == MatchType::Equal && &m.name == name && &m.value == value)
    })
}

/// Adds external labels the series lack (a series' own label wins).
fn with_external_labels(set: SelectResult, ext: &Labels) -> SelectResult {
    if ext.is_empty() {
        return set;
    }
    let mut out: SelectResult = set
        .into_iter()
        .map(|(labels, samples)| {
            let mut all: Vec<Label> = labels.into_vec();
            for l in ext.iter() {
                if !all.iter().any(|x| x.name == l.name) {
                    all.push(l.clone());
                }
            }
            (Labels::new(all).unwrap_or_default(), samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Merges sorted series sets: equal label sets become one series whose samples are the
/// union by timestamp, the earlier set's value kept on a tie.
pub fn merge(sets: Vec<SelectResult>) -> SelectResult {
    let mut sets: Vec<SelectResult> = sets.into_iter().filter(|s| !s.is_empty()).collect();
    match sets.len() {
        0 => return Vec::new(),
        1 => return sets.pop().unwrap_or_default(),
        _ => {}
    }
    let mut by_labels: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for set in sets {
        for (labels, samples) in set {
            match by_labels.get_mut(&labels) {
                None => {
                    by_labels.insert(labels, samples);
                }
                Some(have) => *have = merge_samples(std::mem::take(have), samples),
            }
        }
    }
    by_labels.into_iter().collect()
}

fn merge_samples(a: Vec<(i64, f64)>, b: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.0 < y.0 {
            out.push(x);
            i += 1;
        } else if y.0 < x.0 {
            out.push(y);
            j += 1;
        } else {
            out.push(x);
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    struct Fixed(SelectResult);
    impl Queryable for Fixed {
        fn select(&self, mint: i64, maxt: i64, _: &[Matcher]) -> Result<SelectResult, String> {
            Ok(self
                .0
                .iter()
                .map(|(l, s)| (l.clone(), s.iter().copied().filter(|(t, _)| *t >= mint && *t <= maxt).collect()))
                .filter(|(_, s): &(Labels, Vec<(i64, f64)>)| !s.is_empty())
                .collect())
        }
    }
    impl RemoteSource for Fixed {
        fn select(&self, mint: i64, maxt: i64, m: &[Matcher]) -> Result<SelectResult, String> {
            // Records the matchers it was sent as a fake series, so tests can see them.
            let mut out = Queryable::select(self, mint, maxt, m)?;
            let names: Vec<String> = m.iter().map(|m| format!("{}={}", m.name, m.value)).collect();
            out.push((l(&[("__name__", "asked"), ("m", &names.join(","))]), vec![(mint, maxt as f64)]));
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        }
    }

    #[test]
    fn merge_unions_series_and_samples_first_source_wins() {
        let a = vec![(l(&[("a", "1")]), vec![(1, 1.0), (3, 3.0)]), (l(&[("a", "2")]), vec![(1, 1.0)])];
        let b = vec![(l(&[("a", "1")]), vec![(2, 20.0), (3, 30.0), (4, 40.0)]), (l(&[("a", "3")]), vec![(9, 9.0)])];
        let got = merge(vec![a, b]);
        assert_eq!(
            got,
            vec![
                (l(&[("a", "1")]), vec![(1, 1.0), (2, 20.0), (3, 3.0), (4, 40.0)]),
                (l(&[("a", "2")]), vec![(1, 1.0)]),
                (l(&[("a", "3")]), vec![(9, 9.0)]),
            ]
        );
    }

    #[test]
    fn policy_ranges_and_required_matchers() {
        assert_eq!(remote_range(0, 100, Some(50), false), Some((0, 49)));
        assert_eq!(remote_range(60, 100, Some(50), false), None, "local storage covers it all");
        assert_eq!(remote_range(60, 100, Some(50), true), Some((60, 100)));
        assert_eq!(remote_range(0, 100, None, false), Some((0, 100)), "empty local storage");
        let req: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
        let eq = Matcher::equal("env", "prod");
        let re = Matcher::new(MatchType::Regex, "env", "prod").unwrap();
        assert!(required_matchers_met(&[eq], &req));
        assert!(!required_matchers_met(&[re], &req), "a regex matcher does not count");
        assert!(!required_matchers_met(&[], &req));
        assert!(required_matchers_met(&[], &BTreeMap::new()));
    }

    #[test]
    fn fanout_asks_remotes_by_policy_and_adds_external_labels() {
        let local = Fixed(vec![(l(&[("__name__", "up")]), vec![(60, 1.0), (70, 1.0)])]);
        let remote = Fixed(vec![(l(&[("__name__", "up")]), vec![(10, 0.0), (60, 5.0)])]);
        let policy =
            ReadPolicy { external_labels: l(&[("dc", "x")]), filter_external_labels: true, ..ReadPolicy::default() };
        let remotes: Vec<(ReadPolicy, Box<dyn RemoteSource>)> = vec![(policy, Box::new(remote))];
        let f = Fanout { local: &local, local_start: Some(60), remotes: &remotes };
        let got = f.select(0, 100, &[Matcher::equal("__name__", "up")]).unwrap();
        let names: Vec<String> = got.iter().map(|(l, _)| l.to_string()).collect();
        assert_eq!(
            names,
            vec![
                r#"{__name__="asked", dc="x", m="__name__=up,dc=x"}"#.to_string(),
                r#"{__name__="up"}"#.to_string(),
                r#"{__name__="up", dc="x"}"#.to_string(),
            ]
        );
        // The remote was asked only for [0, 59]: its sample at 60 is outside.
        assert_eq!(got[0].1, vec![(0, 59.0)]);
        assert_eq!(got[2].1, vec![(10, 0.0)]);
    }
}
