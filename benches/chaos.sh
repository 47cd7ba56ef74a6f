#!/usr/bin/env bash
# The chaos run (issue 8): files rotating and syslog over TCP while the receiver and the
# agent are SIGKILLed and restarted at random; at the end every accepted line, message
# and alert must have arrived. Prints
#   lost=0 duplicated=N kills=K restarts=R max_rss=...
# Usage: benches/chaos.sh [--seconds 240] [--kills 50] [--restarts 50] [--seed 1] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lumberwatch --example chaos
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/examples/chaos" --bin "$target/release/lumberwatch" "$@"
