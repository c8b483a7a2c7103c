"""The Python prometheus_client (0.16, Debian's python3-prometheus-client) as a second,
independent reader and writer of the exposition formats, for tests/it/exposition.rs.

    pyclient.py parse text|openmetrics FILE
        Parses FILE with the library's parser for that format and prints one JSON object:
        {"ok": true, "samples": [...], "families": [...]} or {"ok": false, "error": "..."}.
        A sample is {"name", "labels" (empty values dropped, as Prometheus drops them),
        "value" (Python repr, so NaN and infinities survive JSON), "ts" (milliseconds or
        null), "exemplar" (null or {"labels", "value", "ts"})}. A family is {"name", "type",
        "help", "unit"}.

    pyclient.py generate text|openmetrics
        Prints the library's own exposition of a registry holding a counter, gauge,
        histogram, summary, info and enum, label values and help texts with escapes,
        exemplars (OpenMetrics only) and explicit sample timestamps.

Timestamps become milliseconds the way Prometheus 2.42 turns them into milliseconds: the
text format's integer is taken as is; an OpenMetrics timestamp in seconds is multiplied by
1000 as a float64 and truncated toward zero (Go's int64(ts * 1000)). The library hands
OpenMetrics timestamps back as (seconds, nanoseconds) pairs, so the decimal is rebuilt from
the pair before doing that: Python floats are the same IEEE doubles as Go's.
"""

import json
import math
import sys


def ms_from_text_seconds(ts):
    # The text parser returns the millisecond integer divided by 1000 as a float.
    return None if ts is None else int(round(ts * 1000))


def ms_from_om(ts):
    if ts is None:
        return None
    if hasattr(ts, "sec"):
        decimal = "%d.%09d" % (ts.sec, ts.nsec)
        return int(float(decimal) * 1000)
    return int(float(ts) * 1000)


def value_repr(v):
    return repr(float(v))


def labels_dict(labels):
    return {k: v for k, v in labels.items() if v != ""}


def parse(fmt, path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return {"ok": False, "error": "not UTF-8: %s" % e}
    if fmt == "text":
        from prometheus_client.parser import text_string_to_metric_families
        to_ms = ms_from_text_seconds
    else:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        to_ms = ms_from_om
    samples = []
    families = []
    try:
        for fam in text_string_to_metric_families(text):
            families.append({"name": fam.name, "type": fam.type, "help": fam.documentation, "unit": fam.unit})
            for s in fam.samples:
                ex = None
                if getattr(s, "exemplar", None) is not None:
                    e = s.exemplar
                    ex = {"labels": labels_dict(e.labels), "value": value_repr(e.value), "ts": to_ms(e.timestamp)}
                samples.append({
                    "name": s.name,
                    "labels": labels_dict(s.labels),
                    "value": value_repr(s.value),
                    "ts": to_ms(s.timestamp),
                    "exemplar": ex,
                })
    except Exception as e:  # The parsers raise ValueError, IndexError, KeyError, ...
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    return {"ok": True, "samples": samples, "families": families}


def generate(fmt):
    from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
    from prometheus_client.core import GaugeMetricFamily, CounterMetricFamily
    from prometheus_client.samples import Exemplar, Sample

    reg = CollectorRegistry()
    req = Counter("requests", 'Requests with "quotes", a \\ backslash\nand a line break.',
                  ["method", "path"], registry=reg)
    req.labels("GET", '/a"b\\c\nd').inc(3)
    req.labels("POST", "/").inc(1.5)
    # Exemplar timestamps are the clock's; the test converts them as Prometheus does.
    req.labels("PUT", "/x").inc(2, exemplar={"trace_id": "abc123", "note": 'q"\\'})

    temp = Gauge("temperature_celsius", "Room temperature.", ["room"], registry=reg)
    temp.labels("kitchen").set(-12.5)
    temp.labels("with space").set(float("nan"))
    temp.labels("caf\u00e9 \u2615").set(float("inf"))
    temp.labels("").set(1e-300)

    lat = Histogram("latency_seconds", "Latency.", ["op"], buckets=[0.1, 0.5, 1.0], registry=reg)
    lat.labels("read").observe(0.05, exemplar={"trace_id": "h1"})
    lat.labels("read").observe(0.7)
    lat.labels("write").observe(3)

    payload = Summary("payload_bytes", "Payload sizes.", registry=reg)
    payload.observe(512)
    payload.observe(1e6)

    Info("build", "Build information.", registry=reg).info({"version": "1.2.3", "commit": 'x"y'})
    Enum("state", "Lifecycle state.", states=["starting", "running", "stopped"], registry=reg).state("running")

    class Custom:
        def collect(self):
            g = GaugeMetricFamily("stamped", "Samples with explicit timestamps.", labels=["k"])
            g.add_metric(["whole"], 1, timestamp=1700000000)
            g.add_metric(["fraction"], 2, timestamp=1700000000.123)
            g.add_metric(["early"], 3, timestamp=1.001)
            yield g
            c = CounterMetricFamily("jobs", "Jobs with a fixed exemplar.", labels=["queue"])
            c.add_metric(["q1"], 7, created=1600000000.5)
            c.samples.append(Sample("jobs_total", {"queue": "q2"}, 8, None, Exemplar({"id": "e1"}, 0.25, 1700000001.5)))
            yield c

    reg.register(Custom())

    if fmt == "text":
        from prometheus_client.exposition import generate_latest
    else:
        from prometheus_client.openmetrics.exposition import generate_latest
    sys.stdout.write(generate_latest(reg).decode("utf-8"))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "parse":
        json.dump(parse(sys.argv[2], sys.argv[3]), sys.stdout, allow_nan=False)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
