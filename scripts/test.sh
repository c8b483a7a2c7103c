#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs the reference peers the tests need first
# (Debian packages; needs root or sudo), then builds once and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The peers the tests compare against (Debian package names); override with CAIRN_PEERS.
export CAIRN_PEERS=${CAIRN_PEERS-prometheus prometheus-node-exporter victoria-metrics python3-prometheus-client}
./scripts/install-peers.sh
cargo test --all-features --no-fail-fast
# Benchmarks must keep compiling (fuzz targets: `cd fuzz && cargo fuzz build -s none`).
cargo bench --no-run --quiet
