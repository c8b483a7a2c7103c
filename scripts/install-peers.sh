#!/usr/bin/env bash
# Installs the real peers Cairn is compared against, from Debian's packages, when missing.
# Which peers the suite needs grows with the issues; list them in PEERS.
set -euo pipefail
PEERS=${CAIRN_PEERS-}
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
