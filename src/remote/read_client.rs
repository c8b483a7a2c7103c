//! The `remote_read` client: asks a Prometheus-compatible endpoint for series over the
//! remote read protocol (`SAMPLES` responses, as Prometheus's own client does) and serves
//! them to the engine as a [`RemoteSource`] behind the [`super::fanout`] policy.
//!
//! The engine's `Queryable` is synchronous and runs on tokio's blocking pool, so a select
//! blocks that thread on the request through the runtime handle it was built with.

use super::codec::{decode_read_response, encode_read_request};
use super::fanout::{ReadPolicy, RemoteSource};
use super::pb::prometheus as pb;
use crate::config::RemoteReadConfig;
use crate::model::{Label, Labels, MatchType, Matcher};
use crate::promql::engine::SelectResult;
use std::time::Duration;

/// Largest decompressed response accepted (Prometheus's client has no smaller bound than
/// its sample limit; 1 GiB keeps a broken peer from exhausting memory).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// One `remote_read` endpoint.
pub struct ReadClient {
    url: String,
    client: crate::config::http::HttpClient,
    timeout: Duration,
    headers: Vec<(String, String)>,
    rt: tokio::runtime::Handle,
}

impl ReadClient {
    /// A client for `cfg`, sending through the runtime `rt`.
    pub fn new(cfg: &RemoteReadConfig, rt: tokio::runtime::Handle) -> Result<ReadClient, String> {
        let client = crate::config::http::build_client(&cfg.http, cfg.remote_timeout).map_err(|e| e.to_string())?;
        Ok(ReadClient {
            url: cfg.url.clone(),
            client,
            timeout: cfg.remote_timeout,
            headers: cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            rt,
        })
    }

    /// The client with its fanout policy.
    pub fn with_policy(
        cfg: &RemoteReadConfig,
        external_labels: &Labels,
        rt: tokio::runtime::Handle,
    ) -> Result<(ReadPolicy, Box<dyn RemoteSource>), String> {
        let policy = ReadPolicy {
            required_matchers: cfg.required_matchers.clone(),
            read_recent: cfg.read_recent,
            external_labels: external_labels.clone(),
            filter_external_labels: cfg.filter_external_labels,
        };
        Ok((policy, Box::new(ReadClient::new(cfg, rt)?)))
    }

    async fn fetch(&self, body: Vec<u8>) -> Result<bytes::Bytes, String> {
        let mut req = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .header("User-Agent", concat!("Cairn/", env!("CARGO_PKG_VERSION")));
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = self.client.authorize(req).await.map_err(|e| format!("remote_read {}: {e}", self.url))?;
        let resp = req.body(body).send().await.map_err(|e| format!("remote_read {}: {e}", self.url))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("remote_read {}: {e}", self.url))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!("remote_read {}: server returned HTTP status {status}: {}", self.url, text.trim()));
        }
        Ok(bytes)
    }
}

/// The protobuf matcher for ours.
pub fn to_pb_matcher(m: &Matcher) -> pb::LabelMatcher {
    let t = match m.kind {
        MatchType::Equal => pb::label_matcher::Type::Eq,
        MatchType::NotEqual => pb::label_matcher::Type::Neq,
        MatchType::Regex => pb::label_matcher::Type::Re,
        MatchType::NotRegex => pb::label_matcher::Type::Nre,
    };
    pb::LabelMatcher { r#type: t as i32, name: m.name.clone(), value: m.value.clone() }
}

impl RemoteSource for ReadClient {
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<SelectResult, String> {
        let req = pb::ReadRequest {
            queries: vec![pb::Query {
                start_timestamp_ms: mint,
                end_timestamp_ms: maxt,
                matchers: matchers.iter().map(to_pb_matcher).collect(),
                ..Default::default()
            }],
            accepted_response_types: vec![pb::read_request::ResponseType::Samples as i32],
        };
        let body = self.rt.block_on(self.fetch(encode_read_request(&req)))?;
        let resp =
            decode_read_response(&body, MAX_RESPONSE_BYTES).map_err(|e| format!("remote_read {}: {e}", self.url))?;
        let mut out: SelectResult = Vec::new();
        for result in resp.results {
            for ts in result.timeseries {
                let labels = Labels::new(ts.labels.into_iter().map(|l| Label::new(l.name, l.value)).collect())
                    .map_err(|e| format!("remote_read {}: invalid labels in response: {e}", self.url))?;
                let mut samples: Vec<(i64, f64)> = ts
                    .samples
                    .into_iter()
                    .map(|s| (s.timestamp, s.value))
                    .filter(|&(t, _)| t >= mint && t <= maxt)
                    .collect();
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
                out.push((labels, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
