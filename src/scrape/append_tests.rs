//! The page appender against a real database. Expected label sets and values are derived
//! by hand from Prometheus 2.42's `scrapeLoop.append`, `mutateSampleLabels` and `report`
//! (the comments say which rule gives each one).

use super::*;
use crate::config::load_str;
use crate::model::{Matcher, is_stale_nan};
use crate::tsdb::{Db, Options};
use std::path::Path;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    pa: PageAppender,
    app: Appender,
    metrics: Arc<ScrapeMetrics>,
}

/// A scrape config for job `j` from YAML lines added to the job (indented by two spaces).
fn job(extra: &str) -> ScrapeConfig {
    let text = format!("scrape_configs:\n- job_name: j\n  static_configs: [{{targets: ['t:1']}}]\n{extra}");
    let (mut cfg, _) = load_str(&text, Path::new("/nonexistent/prometheus.yml")).unwrap();
    cfg.scrape_configs.remove(0)
}

fn fixture(extra: &str) -> Fixture {
    fixture_with(extra, None)
}

/// A fixture whose database has exemplar storage of `max_exemplars` (`None`: off).
fn fixture_with(extra: &str, max_exemplars: Option<i64>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { background_interval: None, max_exemplars, ..Options::default() }).unwrap();
    let cfg = job(extra);
    let target = Labels::from_pairs(&[("instance", "t:1"), ("job", "j")]).unwrap();
    let metrics = Arc::new(ScrapeMetrics::default());
    let pa = PageAppender::new(Arc::new(AppendOptions::new(&cfg, target)), metrics.clone());
    let app = db.appender();
    Fixture { _dir: dir, db, pa, app, metrics }
}

const TEXT: Option<&str> = Some("text/plain; version=0.0.4");

impl Fixture {
    fn scrape(&mut self, page: &str, ts: i64) -> ScrapeOutcome {
        self.pa.scrape_page(&mut self.app, Page::Body(page.as_bytes(), TEXT), None, ts, Instant::now())
    }

    fn fail(&mut self, err: &str, ts: i64) -> ScrapeOutcome {
        self.pa.scrape_page(&mut self.app, Page::Failed(err), None, ts, Instant::now())
    }

    /// Every series named `name` with its samples.
    fn series(&self, name: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let q = self.db.querier(i64::MIN, i64::MAX);
        q.select(&[Matcher::equal("__name__", name)])
            .unwrap()
            .iter()
            .map(|s| (s.labels().clone(), s.iter().collect()))
            .collect()
    }

    /// The samples of the one series named `name`.
    fn samples(&self, name: &str) -> Vec<(i64, f64)> {
        let s = self.series(name);
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        s.into_iter().next().unwrap().1
    }

    /// The synthetic series' values at `ts`, in `REPORT_NAMES` order (`up` first).
    fn report_at(&self, ts: i64) -> Vec<f64> {
        REPORT_NAMES
            .iter()
            .map(|n| self.samples(n).into_iter().find(|(t, _)| *t == ts).map(|(_, v)| v).unwrap_or(-1.0))
            .collect()
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

/// A sample value that is the stale marker.
fn stale(v: f64) -> bool {
    is_stale_nan(v)
}

#[test]
fn samples_get_target_labels_and_the_report_counts_them() {
    let mut f = fixture("");
    let page = "# TYPE a counter\n# HELP a An a.\na 1\nb{x=\"y\"} 2\n";
    let out = f.scrape(page, 1000);
    assert_eq!(out.error, None);
    assert_eq!(out.counts, Counts { total: 2, added: 2, series_added: 2 });
    assert_eq!(f.series("a"), vec![(l(&[("__name__", "a"), ("instance", "t:1"), ("job", "j")]), vec![(1000, 1.0)])]);
    assert_eq!(f.series("b")[0].0, l(&[("__name__", "b"), ("instance", "t:1"), ("job", "j"), ("x", "y")]));
    // up, duration (not checked), scraped, post relabeling, series added.
    let r = f.report_at(1000);
    assert_eq!((r[0], r[2], r[3], r[4]), (1.0, 2.0, 2.0, 2.0));
    assert_eq!(f.series("up")[0].0, l(&[("__name__", "up"), ("instance", "t:1"), ("job", "j")]));
    // A steady second scrape hits the cache: no series added.
    let out = f.scrape(page, 2000);
    assert_eq!(out.counts, Counts { total: 2, added: 2, series_added: 0 });
    assert_eq!(f.pa.cache().len(), 2);
    assert_eq!(f.samples("a"), vec![(1000, 1.0), (2000, 1.0)]);
    let m = f.pa.cache().metadata().get("a").unwrap();
    assert_eq!((m.kind, m.help.as_str()), ("counter", "An a."));
}

#[test]
fn vanished_series_and_failed_scrapes_get_stale_markers() {
    let mut f = fixture("");
    f.scrape("a 1\nb 2\n", 1000);
    f.scrape("a 1\n", 2000);
    let b = f.samples("b");
    assert_eq!(b.len(), 2);
    assert!(stale(b[1].1) && b[1].0 == 2000, "{b:?}");
    // b comes back: a new cache entry, counted as added again.
    let out = f.scrape("a 1\nb 3\n", 3000);
    assert_eq!(out.counts.series_added, 1, "the successful scrape without b evicted it from the cache");
    // A failed scrape: every series of the last scrape is stale, up is 0, counts are 0.
    let out = f.fail("server returned HTTP status 500 Internal Server Error", 4000);
    assert_eq!(out.error.as_deref(), Some("server returned HTTP status 500 Internal Server Error"));
    for name in ["a", "b"] {
        let s = f.samples(name);
        assert!(s.last().is_some_and(|(t, v)| *t == 4000 && stale(*v)), "{name}: {s:?}");
    }
    let r = f.report_at(4000);
    assert_eq!((r[0], r[2], r[3], r[4]), (0.0, 0.0, 0.0, 0.0));
    // The next failure has nothing left to mark.
    f.fail("again", 5000);
    assert_eq!(f.samples("a").len(), 4);
}

#[test]
fn cached_references_storage_no_longer_knows_are_rebuilt_from_the_page() {
    // The cache keeps references, not labels: when storage forgets a reference (here: a new
    // database behind the same page appender), the labels come from the page line again.
    let mut f = fixture("");
    f.scrape("a{x=\"1\"} 1\nb 2\n", 1000);
    let dir = tempfile::tempdir().unwrap();
    f.db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
    f.app = f.db.appender();
    let out = f.scrape("a{x=\"1\"} 5\nb 6\n", 2000);
    assert_eq!(out.error, None);
    assert_eq!(out.counts.series_added, 0, "cache hits, not new series");
    let a = f.series("a");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, l(&[("__name__", "a"), ("instance", "t:1"), ("job", "j"), ("x", "1")]));
    assert_eq!(a[0].1, vec![(2000, 5.0)]);
    // The rebuilt references are cached: b vanishing gets its stale marker by reference.
    f.scrape("a{x=\"1\"} 7\n", 3000);
    let b = f.samples("b");
    assert_eq!(b.len(), 2);
    assert!(b[0] == (2000, 6.0) && b[1].0 == 3000 && stale(b[1].1), "{b:?}");
    assert_eq!(f.samples("a"), vec![(2000, 5.0), (3000, 7.0)]);
    drop(f);
    drop(dir);
}

#[test]
fn target_labels_win_unless_honor_labels() {
    // Without honor_labels a conflicting scraped label is kept as exported_<name>; when that
    // name is taken too, the prefix repeats.
    let mut f = fixture("");
    f.scrape("m{job=\"x\",instance=\"i\",exported_job=\"e\"} 1\n", 1000);
    assert_eq!(
        f.series("m")[0].0,
        l(&[
            ("__name__", "m"),
            ("exported_exported_job", "x"),
            ("exported_instance", "i"),
            ("exported_job", "e"),
            ("instance", "t:1"),
            ("job", "j"),
        ])
    );
    let mut f = fixture("  honor_labels: true\n");
    f.scrape("m{job=\"x\"} 1\n", 1000);
    assert_eq!(f.series("m")[0].0, l(&[("__name__", "m"), ("instance", "t:1"), ("job", "x")]));
}

#[test]
fn metric_relabeling_drops_and_rewrites() {
    let mut f = fixture(
        "  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: drop_me\n    action: drop\n  - target_label: extra\n    replacement: v\n",
    );
    let out = f.scrape("keep 1\ndrop_me 2\n", 1000);
    assert_eq!(out.counts, Counts { total: 2, added: 1, series_added: 1 });
    assert!(f.series("drop_me").is_empty());
    assert_eq!(f.series("keep")[0].0, l(&[("__name__", "keep"), ("extra", "v"), ("instance", "t:1"), ("job", "j")]));
    // Dropped lines are remembered: the second scrape does not relabel them again.
    assert_eq!(f.pa.cache().dropped.len(), 1);
}

#[test]
fn sample_limit_fails_the_whole_scrape() {
    let mut f = fixture("  sample_limit: 2\n");
    assert_eq!(f.scrape("a 1\n", 1000).error, None);
    let out = f.scrape("a 1\nb 2\nc 3\n", 2000);
    assert_eq!(out.error.as_deref(), Some("sample limit exceeded"));
    // Prometheus goes on parsing past the limit so the totals are right; the samples under
    // the limit still count as added, but none is stored.
    assert_eq!(out.counts, Counts { total: 3, added: 3, series_added: 1 });
    assert!(f.series("b").iter().chain(f.series("c").iter()).all(|(_, s)| s.is_empty()));
    assert_eq!(f.samples("a"), vec![(1000, 1.0)], "a was seen again before the limit, so no marker");
    let r = f.report_at(2000);
    assert_eq!((r[0], r[2], r[3]), (0.0, 3.0, 3.0));
    assert_eq!(f.metrics.exceeded_sample_limit.get(), 1);
}

#[test]
fn label_limits_and_bad_pages_fail_the_scrape() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "  label_limit: 3\n",
            "m{a=\"1\",b=\"2\"} 1\n",
            "label_limit exceeded (metric: m, number of labels: 5, limit: 3)",
        ),
        (
            // Every name counts, `__name__` (8) and `instance` (8) too.
            "  label_name_length_limit: 8\n",
            "m{abcdefghi=\"1\"} 1\n",
            "label_name_length_limit exceeded (metric: m, label name: abcdefghi, length: 9, limit: 8)",
        ),
        (
            // Target label values count too (`t:1` is 3 long).
            "  label_value_length_limit: 3\n",
            "m{a=\"wxyz\"} 1\n",
            "label_value_length_limit exceeded (metric: m, label name: a, value: \"wxyz\", length: 4, limit: 3)",
        ),
    ];
    for (extra, page, want) in cases {
        let mut f = fixture(extra);
        f.scrape("ok 1\n", 1000);
        let out = f.scrape(page, 2000);
        assert_eq!(out.error.as_deref(), Some(*want));
        assert!(f.samples("ok").last().is_some_and(|(_, v)| stale(*v)), "{want}");
        assert_eq!(f.report_at(2000)[0], 0.0);
    }
    let mut f = fixture("");
    f.scrape("ok 1\n", 1000);
    let out = f.scrape("ok 1\nbad line here\n", 2000);
    assert!(out.error.is_some());
    // The parse error rolled the page back. As in Prometheus 2.42, a series read before the
    // error counts as seen, so it gets no marker (and no sample) at 2000...
    assert_eq!(f.samples("ok"), vec![(1000, 1.0)]);
    // ...while one that was not on the failed page does.
    let mut f = fixture("");
    f.scrape("gone 1\n", 1000);
    f.scrape("ok 1\nbad line here\n", 2000);
    assert!(f.samples("gone").last().is_some_and(|(t, v)| *t == 2000 && stale(*v)));
}

#[test]
fn explicit_timestamps_and_duplicates() {
    let mut f = fixture("");
    // An explicit timestamp is used and the series is not tracked for staleness.
    f.scrape("a 1 500\nb 2\n", 1000);
    f.scrape("b 2\n", 2000);
    assert_eq!(f.samples("a"), vec![(500, 1.0)]);
    // The same series twice in one page: the first value is kept, the scrape succeeds.
    let out = f.scrape("c 1\nc 2\n", 3000);
    assert_eq!(out.error, None);
    assert_eq!(f.samples("c"), vec![(3000, 1.0)]);
    assert_eq!(f.metrics.sample_duplicate.get(), 1);
    // With honor_timestamps: false the scrape time is used.
    let mut f = fixture("  honor_timestamps: false\n");
    f.scrape("a 1 500\n", 1000);
    assert_eq!(f.samples("a"), vec![(1000, 1.0)]);
    // An out-of-order explicit timestamp is counted and skipped.
    let mut f = fixture("");
    f.scrape("a 1 500\n", 1000);
    let out = f.scrape("a 2 400\n", 2000);
    assert_eq!((out.error, f.metrics.sample_out_of_order.get()), (None, 1));
}

#[test]
fn forced_errors_and_end_of_run() {
    let mut f = fixture("");
    f.scrape("a 1\n", 1000);
    let forced = "target_limit exceeded (number of targets: 2, limit: 1)";
    let out = f.pa.scrape_page(&mut f.app, Page::Body(b"a 1\n", TEXT), Some(forced), 2000, Instant::now());
    assert_eq!(out.error.as_deref(), Some(forced));
    assert!(stale(f.samples("a")[1].1));
    f.scrape("a 1\n", 3000);
    // The target went away: its series and the synthetic ones are all marked stale.
    f.pa.end_of_run(&mut f.app, 4000);
    assert!(f.samples("a").last().is_some_and(|(t, v)| *t == 4000 && stale(*v)));
    for n in REPORT_NAMES {
        assert!(f.samples(n).last().is_some_and(|(t, v)| *t == 4000 && stale(*v)), "{n}");
    }
}

#[test]
fn openmetrics_pages_by_content_type() {
    let mut f = fixture("");
    let om = "# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total 1\n# EOF\n";
    let out = f.pa.scrape_page(
        &mut f.app,
        Page::Body(om.as_bytes(), Some("application/openmetrics-text; version=1.0.0")),
        None,
        1000,
        Instant::now(),
    );
    assert_eq!(out.error, None);
    assert_eq!(f.samples("a_seconds_total"), vec![(1000, 1.0)]);
    assert_eq!(f.pa.cache().metadata().get("a_seconds").unwrap().unit, "seconds");
    // Without `# EOF` the OpenMetrics page is refused.
    let out = f.pa.scrape_page(
        &mut f.app,
        Page::Body(b"a_seconds_total 2\n", Some("application/openmetrics-text; version=1.0.0")),
        None,
        2000,
        Instant::now(),
    );
    assert!(out.error.is_some());
}

const OM: Option<&str> = Some("application/openmetrics-text; version=1.0.0");

/// `(series name, le, [(trace_id, value, ts)])` of one series' stored exemplars.
type ExemplarRow = (String, String, Vec<(String, f64, i64)>);

/// Every stored exemplar, as [`ExemplarRow`]s.
fn exemplars(f: &Fixture) -> Vec<ExemplarRow> {
    let all = [Matcher::new(crate::model::MatchType::Regex, "__name__", ".+").unwrap()];
    f.db.select_exemplars(i64::MIN, i64::MAX, &[all.to_vec()])
        .into_iter()
        .map(|r| {
            let name = r.series_labels.metric_name().unwrap_or_default().to_string();
            let le = r.series_labels.get("le").unwrap_or("").to_string();
            let e = r
                .exemplars
                .iter()
                .map(|e| (e.labels.get("trace_id").unwrap_or("").to_string(), e.value, e.ts))
                .collect();
            (name, le, e)
        })
        .collect()
}

fn ex_row(name: &str, le: &str, e: &[(&str, f64, i64)]) -> ExemplarRow {
    (name.into(), le.into(), e.iter().map(|(t, v, ts)| (t.to_string(), *v, *ts)).collect())
}

#[test]
fn openmetrics_exemplars_are_stored_when_enabled() {
    // Exemplar timestamps are seconds in OpenMetrics; without one the exemplar gets the
    // sample's time, which is the scrape time here (Prometheus 2.42 `scrapeLoop.append`).
    let page = "# TYPE h histogram\n\
                h_bucket{le=\"1\"} 1 # {trace_id=\"a\"} 0.5 1.25\n\
                h_bucket{le=\"+Inf\"} 2 # {trace_id=\"b\"} 3\n\
                h_count 2\nh_sum 3.5\n\
                # TYPE c counter\nc_total 7 # {trace_id=\"c\"} 1 1.5\n# EOF\n";
    let mut f = fixture_with("", Some(100));
    let out = f.pa.scrape_page(&mut f.app, Page::Body(page.as_bytes(), OM), None, 2000, Instant::now());
    assert_eq!(out.error, None);
    let want = vec![
        ex_row("c_total", "", &[("c", 1.0, 1500)]),
        ex_row("h_bucket", "+Inf", &[("b", 3.0, 2000)]),
        ex_row("h_bucket", "1", &[("a", 0.5, 1250)]),
    ];
    assert_eq!(exemplars(&f), want);
    // The same page again: the timestamped exemplars are duplicates (skipped, not counted as
    // out of order); the one without a timestamp is newer (the new scrape time).
    let out = f.pa.scrape_page(&mut f.app, Page::Body(page.as_bytes(), OM), None, 3000, Instant::now());
    assert_eq!(out.error, None);
    assert_eq!(f.metrics.exemplar_out_of_order.get(), 0);
    let want = vec![
        ex_row("c_total", "", &[("c", 1.0, 1500)]),
        ex_row("h_bucket", "+Inf", &[("b", 3.0, 2000), ("b", 3.0, 3000)]),
        ex_row("h_bucket", "1", &[("a", 0.5, 1250)]),
    ];
    assert_eq!(exemplars(&f), want);
    // An older exemplar is out of order: counted, the scrape still succeeds.
    let older = "# TYPE c counter\nc_total 8 # {trace_id=\"c\"} 1 1.0\n# EOF\n";
    let out = f.pa.scrape_page(&mut f.app, Page::Body(older.as_bytes(), OM), None, 4000, Instant::now());
    assert_eq!(out.error, None);
    assert_eq!(f.metrics.exemplar_out_of_order.get(), 1);
    assert_eq!(f.samples("c_total"), vec![(2000, 7.0), (3000, 7.0), (4000, 8.0)]);
}

#[test]
fn exemplars_are_ignored_when_disabled() {
    let page = "# TYPE c counter\nc_total 7 # {trace_id=\"c\"} 1 1.5\n# EOF\n";
    let mut f = fixture("");
    let out = f.pa.scrape_page(&mut f.app, Page::Body(page.as_bytes(), OM), None, 2000, Instant::now());
    assert_eq!(out.error, None);
    assert_eq!(f.samples("c_total"), vec![(2000, 7.0)]);
    assert!(exemplars(&f).is_empty());
}
