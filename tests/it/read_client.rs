//! Cairn's `remote_read` client against a real Prometheus 2.42: what the client returns for a
//! selector equals what Prometheus itself answers (`/api/v1/query_range` of the raw series,
//! compared sample by sample), and the fanout policy merges it with local data.

use crate::peer;
use cairn::config::{HttpClientConfig, RemoteReadConfig};
use cairn::model::{Labels, Matcher};
use cairn::promql::engine::Queryable;
use cairn::remote::fanout::{Fanout, RemoteSource};
use cairn::remote::read_client::ReadClient;
use std::collections::BTreeMap;
use std::time::Duration;

/// Two series, 10 samples each, 15s apart, starting at a fixed second in 2023.
fn data() -> String {
    let mut om = String::from("# TYPE rr_metric gauge\n");
    for i in 0..10 {
        let t = 1_700_000_000 + i * 15;
        om.push_str(&format!("rr_metric{{job=\"a\"}} {} {t}\n", i as f64 * 1.5));
        om.push_str(&format!("rr_metric{{job=\"b\"}} {} {t}\n", 100 - i));
    }
    om.push_str("# EOF\n");
    om
}

fn read_config(url: String, read_recent: bool) -> RemoteReadConfig {
    RemoteReadConfig {
        url,
        name: "p".into(),
        remote_timeout: Duration::from_secs(10),
        headers: BTreeMap::new(),
        required_matchers: BTreeMap::new(),
        read_recent,
        filter_external_labels: true,
        http: HttpClientConfig::default(),
    }
}

#[test]
fn read_client_matches_prometheus_and_fans_out() {
    if !peer::peers_available("read_client_matches_prometheus_and_fans_out", &["prometheus", "promtool"], "prometheus")
    {
        return;
    }
    cairn::server::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let prom = peer::prometheus_on_openmetrics(dir.path(), &data(), &[]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let cfg = read_config(format!("http://{}/api/v1/read", prom.addr()), true);
    let client = ReadClient::new(&cfg, rt.handle().clone()).unwrap();
    let (mint, maxt) = (1_700_000_000_000, 1_700_000_135_000);
    let matchers = [Matcher::equal("__name__", "rr_metric")];
    let got = rt
        .block_on(async { tokio::task::spawn_blocking(move || client.select(mint, maxt, &matchers)).await.unwrap() })
        .unwrap();

    // Prometheus's own answer: each raw sample through a 15s-step range query of the selector
    // (steps on the sample timestamps, so the lookback picks exactly that sample).
    let q =
        peer::query_string(&[("query", "rr_metric"), ("start", "1700000000"), ("end", "1700000135"), ("step", "15")]);
    let resp = prom.get(&format!("/api/v1/query_range?{q}"), Duration::from_secs(10)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&resp.text()).unwrap();
    let mut want: Vec<(String, Vec<(i64, f64)>)> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let job = s["metric"]["job"].as_str().unwrap().to_string();
            let vals = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| ((v[0].as_f64().unwrap() * 1000.0) as i64, v[1].as_str().unwrap().parse::<f64>().unwrap()))
                .collect();
            (job, vals)
        })
        .collect();
    want.sort_by(|x, y| x.0.cmp(&y.0));
    let got_jobs: Vec<(String, Vec<(i64, f64)>)> =
        got.iter().map(|(l, s)| (l.get("job").unwrap().to_string(), s.clone())).collect();
    assert_eq!(got_jobs, want);
    assert_eq!(want.len(), 2);
    assert_eq!(want[0].1.len(), 10);

    // Fanout with read_recent=false and local data starting in the middle: the remote is asked
    // only for the part before it, and local samples win on equal timestamps.
    struct Local(Vec<(Labels, Vec<(i64, f64)>)>);
    impl Queryable for Local {
        fn select(&self, _: i64, _: i64, _: &[Matcher]) -> Result<cairn::promql::engine::SelectResult, String> {
            Ok(self.0.clone())
        }
    }
    let local_start = 1_700_000_075_000;
    let a = Labels::from_pairs(&[("__name__", "rr_metric"), ("job", "a")]).unwrap();
    let local = Local(vec![(a.clone(), vec![(local_start, -1.0)])]);
    let cfg = read_config(format!("http://{}/api/v1/read", prom.addr()), false);
    let remotes = vec![ReadClient::with_policy(&cfg, &Labels::default(), rt.handle().clone()).unwrap()];
    let merged = rt
        .block_on(async move {
            tokio::task::spawn_blocking(move || {
                let f = Fanout { local: &local, local_start: Some(local_start), remotes: &remotes };
                f.select(mint, maxt, &[Matcher::equal("__name__", "rr_metric")])
            })
            .await
            .unwrap()
        })
        .unwrap();
    let series_a = &merged.iter().find(|(l, _)| *l == a).unwrap().1;
    // Remote samples at 0..60s (5 of them), then the local one at 75s.
    assert_eq!(series_a.len(), 6, "{series_a:?}");
    assert_eq!(series_a.last(), Some(&(local_start, -1.0)));
    assert_eq!(series_a[0], (1_700_000_000_000, 0.0));
}
