//! The data model shared by every module: labels, samples, matchers, durations.
//!
//! Principal types: [`Labels`] (a sorted, validated label set), [`Sample`], [`Matcher`],
//! and the stale marker helpers ([`stale_nan`], [`is_stale_nan`]).

pub mod duration;
mod labels;
mod matcher;
pub mod regex;
mod sample;

pub use labels::{Label, Labels, LabelsError, METRIC_NAME, stable_hash_pairs};
pub use matcher::{MatchType, Matcher};
pub use sample::{STALE_NAN_BITS, Sample, Timestamp, is_stale_nan, stale_nan};
