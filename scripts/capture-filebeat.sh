#!/usr/bin/env bash
# Regenerate the golden Filebeat captures in proto/ end to end:
# fetch the real Filebeat 8.1.3, point it at scripts/capture-filebeat.py on 127.0.0.1,
# let it ship a 5-line file twice (compression_level 3, then 0) in batches of at most 3,
# and write proto/filebeat-8.1.3-{compressed,plain}.{bin,json}.
#
# Timestamps, agent ids and offsets-free fields differ on every run: the capture is the
# golden data, so regenerate only when you mean to replace it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto_dir="$repo/proto"
capture_py="$repo/scripts/capture-filebeat.py"
filebeat="$("$repo/scripts/fetch-filebeat.sh")"

work="$(mktemp -d "${TMPDIR:-/tmp}/lumberwatch-capture.XXXXXX")"
server_pid=""
beat_pid=""
cleanup() {
    [[ -n "$beat_pid" ]] && kill "$beat_pid" 2>/dev/null || true
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    if [[ -n "${LUMBERWATCH_CAPTURE_KEEP:-}" ]]; then echo "capture-filebeat: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Stop a process we started: SIGTERM, then SIGKILL if it has not gone within 10 s.
stop_pid() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

capture() {
    local name="$1" level="$2"
    local dir="$work/$name"
    mkdir -p "$dir/home" "$dir/data" "$dir/logs"

    # Five complete lines: ASCII, both quote kinds and a backslash, multi-byte UTF-8
    # (2-, 3- and 4-byte sequences), a tab and JSON-looking text, and an HTML-ish line
    # (Filebeat does not escape <, > or & for Logstash).
    printf '%s\n' \
        'plain ascii line one' \
        'quotes: "double" and '"'"'single'"'"' and a back\slash' \
        'unicode: café naïve 日本語 🚀' \
        $'tab\there {"looks":"like json"}' \
        'html-ish: <b>bold</b> & done' > "$dir/input.log"

    python3 "$capture_py" serve --port-file "$dir/port" --out "$dir/capture" \
        --events 5 --timeout 90 --linger 1 2> "$dir/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
    if [[ ! -s "$dir/port" ]]; then
        echo "capture-filebeat: server did not start:" >&2; cat "$dir/server.log" >&2; exit 1
    fi
    local port
    port="$(cat "$dir/port")"

    cat > "$dir/filebeat.yml" <<YAML
name: golden-host
filebeat.inputs:
  - type: filestream
    id: golden
    paths: ["$dir/input.log"]
output.logstash:
  hosts: ["127.0.0.1:$port"]
  compression_level: $level
  bulk_max_size: 3
  worker: 1
  loadbalance: false
queue.mem.flush.min_events: 3
logging.level: info
logging.to_stderr: true
YAML

    "$filebeat" -e --strict.perms=false -c "$dir/filebeat.yml" \
        --path.home "$dir/home" --path.config "$dir" --path.data "$dir/data" --path.logs "$dir/logs" \
        > "$dir/filebeat.log" 2>&1 &
    beat_pid=$!

    local rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    stop_pid "$beat_pid"
    beat_pid=""
    cat "$dir/server.log" >&2
    if [[ $rc -ne 0 ]]; then
        echo "capture-filebeat: $name capture failed (server exit $rc); filebeat log tail:" >&2
        tail -n 40 "$dir/filebeat.log" >&2
        exit 1
    fi
    local conns=("$dir"/capture-conn*.bin)
    if [[ ${#conns[@]} -ne 1 ]]; then
        echo "capture-filebeat: $name: want exactly one connection, got ${#conns[@]}" >&2
        exit 1
    fi

    cp "${conns[0]}" "$proto_dir/filebeat-8.1.3-$name.bin"
    python3 "$capture_py" decode "$proto_dir/filebeat-8.1.3-$name.bin" \
        -o "$proto_dir/filebeat-8.1.3-$name.json"
    echo "$proto_dir/filebeat-8.1.3-$name.bin ($(stat -c %s "${conns[0]}") bytes)"
}

mkdir -p "$proto_dir"
capture compressed 3
capture plain 0
