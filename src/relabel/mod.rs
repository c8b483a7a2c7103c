//! Relabeling: Prometheus's `relabel_configs` actions, shared by scraping (target and metric
//! relabeling), remote write (`write_relabel_configs`) and alerting.
//!
//! Principal items: [`RelabelConfig`] (one step, Prometheus's defaults filled in), [`Action`]
//! and [`process`], which runs a list of steps over a label set.
//!
//! SKELETON: the public shapes below are the contract; the config helper implements them.

use crate::model::Labels;
use crate::model::regex::FastRegex;

/// A relabeling action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `replace` (default).
    Replace,
    /// `keep`.
    Keep,
    /// `drop`.
    Drop,
    /// `keepequal`.
    KeepEqual,
    /// `dropequal`.
    DropEqual,
    /// `hashmod`.
    HashMod,
    /// `labelmap`.
    LabelMap,
    /// `labeldrop`.
    LabelDrop,
    /// `labelkeep`.
    LabelKeep,
    /// `lowercase`.
    Lowercase,
    /// `uppercase`.
    Uppercase,
}

/// One relabeling step with Prometheus's defaults (separator `;`, regex `(.*)`,
/// replacement `$1`, action `replace`).
#[derive(Clone, Debug)]
pub struct RelabelConfig {
    /// `source_labels`.
    pub source_labels: Vec<String>,
    /// `separator`.
    pub separator: String,
    /// `regex`, fully anchored, RE2 syntax.
    pub regex: FastRegex,
    /// `modulus` (hashmod).
    pub modulus: u64,
    /// `target_label`.
    pub target_label: String,
    /// `replacement`.
    pub replacement: String,
    /// `action`.
    pub action: Action,
}

impl PartialEq for RelabelConfig {
    fn eq(&self, other: &Self) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex.as_str() == other.regex.as_str()
            && self.modulus == other.modulus
            && self.target_label == other.target_label
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

/// Runs `cfgs` over `labels` in order. `None` when a step dropped the set (keep/drop
/// actions) or when the result has no labels left.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    if cfgs.is_empty() {
        return Some(labels.clone());
    }
    None
}
