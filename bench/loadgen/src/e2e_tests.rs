//! End-to-end checks against the real peers: what the encoder sends is what Prometheus and
//! VictoriaMetrics store, and the helpers the phases rely on read them correctly.

use crate::config::Config;
use crate::encoder::Stream;
use crate::phases::{Ctx, count, now_ms, probe_write, self_metric};
use crate::queries;
use crate::sender::{client, send};
use crate::series::{JOB, Kind, State, Workload, instance_label, template};
use crate::system::{SystemKind, find_on_path};
use std::time::Duration;

/// The peers installed here; under `CI=true` a missing one is a failure.
fn peers() -> Vec<(SystemKind, std::path::PathBuf)> {
    let mut out = Vec::new();
    for (kind, bin) in [(SystemKind::Prometheus, "prometheus"), (SystemKind::VictoriaMetrics, "victoria-metrics")] {
        match find_on_path(bin) {
            Some(p) => out.push((kind, p)),
            None => {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{bin} missing under CI=true");
                eprintln!("{bin} not on PATH: skipping its end-to-end check");
            }
        }
    }
    out
}

fn ctx(name: &str) -> Ctx {
    let dir = std::env::temp_dir().join(format!("loadgen-e2e-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.yml");
    std::fs::write(&empty, "global:\n  scrape_interval: 15s\n").unwrap();
    Ctx {
        cfg: Config::quick_preset(),
        client: client(Duration::from_secs(10)).unwrap(),
        write_client: client(Duration::from_secs(60)).unwrap(),
        query_client: client(Duration::from_secs(60)).unwrap(),
        run_dir: dir,
        empty_config: empty,
        run_start_ms: now_ms(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_store_what_the_encoder_sends() {
    let ctx = ctx("write");
    for (kind, bin) in peers() {
        let (data, log) = ctx.paths(kind, "e2e");
        let server = ctx.start(kind, &bin, &data, None, &log).await.unwrap();
        probe_write(&ctx, &server).await.unwrap();
        // 1,500 series (two instances, the second partial), 4 rounds of 2 samples per series.
        let t0 = (now_ms() - 3_600_000).div_euclid(15_000) * 15_000;
        let mut stream = Stream::new(Workload::new(1500), t0, 11, 2, 500, 3);
        let rep =
            send(&ctx.write_client, &server.url("/api/v1/write"), stream.take_rounds(4), None, Duration::from_secs(60))
                .await;
        assert_eq!((rep.samples_ok, rep.samples_failed), (6000, 0), "{kind:?}: {:?}", rep.first_error);

        // The count helper sees every series at the last timestamp.
        let mut st = State::new(2, t0, 11);
        for _ in 0..4 {
            st.advance();
        }
        let last = st.timestamp(1, 3);
        assert_eq!(count(&ctx, &server, &format!("{{job=\"{JOB}\"}}"), last + 1000).await, Ok(1500), "{kind:?}");

        // A counter and a gauge of the partial instance and a histogram count of the full
        // one, every stored sample, as the generator made them.
        let t = template();
        for (inst, j) in [(1, 3), (1, 450), (0, 999)] {
            let s = &t[j];
            let mut sel = format!("{}{{instance=\"{}\",job=\"{JOB}\"", s.name, instance_label(inst));
            for (n, v) in &s.labels {
                sel.push_str(&format!(",{n}=\"{v}\""));
            }
            sel.push('}');
            let path = format!(
                "/api/v1/query?query={}&time={}.000",
                queries::encode(&format!("{sel}[2m]")),
                (last + 1000) / 1000
            );
            let data = queries::fetch(&ctx.query_client, &server.url(&path)).await.unwrap();
            let result = data["result"].as_array().unwrap();
            assert_eq!(result.len(), 1, "{kind:?} {sel}: {data}");
            let got: Vec<(i64, f64)> = result[0]["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| ((p[0].as_f64().unwrap() * 1000.0).round() as i64, p[1].as_str().unwrap().parse().unwrap()))
                .collect();
            let mut st = State::new(2, t0, 11);
            let mut want = Vec::new();
            for round in 0..4 {
                st.advance();
                want.push((st.timestamp(inst, round), st.value(inst, s.kind)));
            }
            assert_eq!(got, want, "{kind:?} {sel}");
        }
        assert!(matches!(t[450].kind, Kind::Gauge(_)) && matches!(t[999].kind, Kind::Count(19)));
        if kind == SystemKind::Prometheus {
            let max = self_metric(&ctx, &server, "prometheus_tsdb_head_max_time").await.unwrap();
            assert_eq!(max as i64, last.max(st.timestamp(0, 3)), "head max time is the newest sample");
        }
        ctx.finish(server);
    }
    let _ = std::fs::remove_dir_all(&ctx.run_dir);
}
