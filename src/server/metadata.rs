//! The scrape targets' metric metadata as the remote-write queues collect it: the
//! [`MetadataSource`] the server hands to [`WriteStorage`](crate::remote::sender::storage::WriteStorage).

use crate::remote::metadata::MetricType;
use crate::remote::sender::metadata::{FamilyMetadata, MetadataSource, dedupe};
use crate::scrape::Manager;
use std::sync::Arc;

/// Collects from every active target of a scrape manager.
pub struct ScrapeMetadata(pub Arc<Manager>);

impl MetadataSource for ScrapeMetadata {
    fn collect(&self) -> Vec<FamilyMetadata> {
        let targets = self.0.targets_active();
        let all = targets.iter().flat_map(|(_, ts)| ts.iter()).flat_map(|t| t.metadata().list()).map(|m| {
            FamilyMetadata { family: m.metric, kind: MetricType::from_api(m.kind), help: m.help, unit: m.unit }
        });
        dedupe(all)
    }
}
