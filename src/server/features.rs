//! `--enable-feature`: Prometheus's feature flags, of which Cairn implements
//! `exemplar-storage`.
//!
//! Principal type: [`Features`]. As Prometheus 2.42, values are comma-separated and the flag
//! may repeat; an unknown name is logged as a warning, never an error.

/// Prometheus 2.42 feature names that Cairn accepts but does not implement (they are
/// ignored with a warning naming them, rather than called unknown).
const NOT_IMPLEMENTED: &[&str] = &[
    "expand-external-labels",
    "memory-snapshot-on-shutdown",
    "extra-scrape-metrics",
    "new-service-discovery-manager",
    "agent",
    "promql-per-step-stats",
    "auto-gomaxprocs",
    "no-default-scrape-port",
    "native-histograms",
];

/// Prometheus 2.42 feature names that are always on (accepted as no-ops).
const ALWAYS_ON: &[&str] = &["promql-at-modifier", "promql-negative-offset", "remote-write-receiver"];

/// The features enabled on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// `exemplar-storage`: keep exemplars in memory (and in the WAL), serve
    /// `/api/v1/query_exemplars` from them.
    pub exemplar_storage: bool,
}

impl Features {
    /// Parses the values of every `--enable-feature` flag, logging what each name does.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Features {
        let mut f = Features::default();
        for name in values.iter().flat_map(|v| v.as_ref().split(',')).map(str::trim) {
            match name {
                "" => {}
                "exemplar-storage" => {
                    f.exemplar_storage = true;
                    tracing::info!("Experimental in-memory exemplar storage enabled");
                }
                n if ALWAYS_ON.contains(&n) => tracing::warn!(
                    option = n,
                    "This option for --enable-feature is now permanently enabled and therefore a no-op."
                ),
                n if NOT_IMPLEMENTED.contains(&n) => {
                    tracing::warn!(option = n, "Option for --enable-feature not implemented by Cairn; ignored")
                }
                n => tracing::warn!(option = n, "Unknown option for --enable-feature"),
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comma_separated_and_repeated_values() {
        let on = Features { exemplar_storage: true };
        let table: &[(&[&str], Features)] = &[
            (&[], Features::default()),
            (&["exemplar-storage"], on.clone()),
            (&["foo,exemplar-storage"], on.clone()),
            (&["native-histograms", " exemplar-storage "], on.clone()),
            (&["foo-bar,,baz"], Features::default()),
            (&["exemplar-storagex"], Features::default()),
        ];
        for (values, want) in table {
            assert_eq!(&Features::parse(values), want, "{values:?}");
        }
    }
}
