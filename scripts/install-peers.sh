#!/usr/bin/env bash
# Installs the real peers Cairn is compared against, from Debian's packages, when missing.
# Which peers the suite needs grows with the issues: CAIRN_PEERS lists them (Debian package
# names, space-separated); scripts/test.sh sets the suite's default. Tests that need a missing peer
# skip with a message, or fail when CI=true.
#   prometheus  prometheus + promtool 2.42 (tests/it/promql_diff.rs, tests/it/api_diff.rs,
#               tests/it/scrape_diff.rs)
#   prometheus-node-exporter  node_exporter 1.5, a real scrape target (tests/it/scrape_diff.rs)
#   victoria-metrics  VictoriaMetrics 1.79, a remote-write target (tests/it/remote_write_out.rs)
#   python3-prometheus-client  the Python client library, a second exposition producer and
#               parser (tests/it/exposition.rs, run with /usr/bin/python3)
set -euo pipefail
PEERS=${CAIRN_PEERS-prometheus prometheus-node-exporter victoria-metrics python3-prometheus-client}
missing=()
for p in $PEERS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
