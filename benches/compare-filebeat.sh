#!/usr/bin/env bash
# lumberwatch against the real Filebeat 8.1.3, same files, same receiver, same run.
#
#   benches/compare-filebeat.sh [--line-bytes B[,B...]] [--events N[,N...]] [--runs R] [--scenarios LIST] [--lw-input file|stdin] [--latency-samples K]
#
# Defaults: lines of ~150 and ~1024 bytes (--line-bytes 150,1024), 1,000,000 lines of
# the short size and 300,000 of the long one (--events N: N of every size; a list: one
# per size), 3 runs per cell, the four scenarios (c0-plain, c0-tls, c3-plain, c3-tls:
# compression 0 or 3, plain TCP or TLS verified against certs/ca.crt as host
# `localhost`), lumberwatch reading the file through a `type: filestream` input, 20
# latency samples.
#
# For each line size: `lumberwatch bench limits` on that file first (the machine's raw
# limits: one core building the file's events and BatchEncoder at zlib levels 1 and 3;
# one loopback TCP stream, plain and TLS). Then for each scenario and each shipper, R
# times: start `lumberwatch receive --exit-after N` on a free loopback port, start the
# shipper under /usr/bin/time -v, and take
#   - from the receiver: seconds from the first event handed over to the N-th, the
#     event bytes received, and its CPU (/usr/bin/time),
#   - from /usr/bin/time: the shipper's CPU (user + sys, whole process lifetime) and
#     peak RSS.
# Both shippers read the file with a filestream input (a fresh registry each run) and
# are stopped (SIGTERM) once the receiver has exited. With --lw-input stdin, lumberwatch
# reads the same file on stdin instead and exits on its own once everything is acked
# (the issue 3 figures). The median of the R runs of each cell is printed, grouped by
# line size and scenario, with each figure as a share of the machine's limit and the
# ratios lumberwatch/filebeat; the same table goes to target/compare/last-table.md.
#
# Then idle latency (--latency-samples K, 0 to skip): each shipper tails a new file
# with a filestream input (plain TCP, compression 0) into `lumberwatch receive --out`;
# K times, after LATENCY_IDLE_SECS (default 2) of silence, one line is appended and the
# time until it appears in the receiver's --out file is taken (median, min, max). Filebeat
# runs with its defaults (harvester backoff 1 s..10 s, queue flush.timeout 1 s).
#
# Everything goes under target/compare/ (the generated files are kept and reused); child
# processes are stopped on exit. Loopback only.
#
# Env:
#   LUMBERWATCH_BIN   the lumberwatch binary to test (default: cargo build --release,
#                     then target/release/lumberwatch)
#   FILEBEAT_BIN      the Filebeat binary (default: scripts/fetch-filebeat.sh)
#   FILEBEAT_INPUT    filestream (default) or log, Filebeat's input type for the file
#   RUN_TIMEOUT_SECS  give up on one shipper run after this long (default 300)
#   LIMITS_ARGS       extra arguments for `lumberwatch bench limits` (e.g. "--tcp-mib 512")
#   KEEP_RUN_DIR=1    keep target/compare/run.*/ (configs, logs, time -v output)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bench=compare-filebeat
# shellcheck source=common/lib.sh
source "$repo/benches/common/lib.sh"

sizes_arg="150,1024"
events_arg=""
runs=3
lw_input=file
scenario_list="all"
latency_samples=20
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --events) events_arg="${2:?--events needs a value}"; shift 2 ;;
        --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
        --line-bytes) sizes_arg="${2:?--line-bytes needs a value}"; shift 2 ;;
        --lw-input) lw_input="${2:?--lw-input needs a value}"; shift 2 ;;
        --scenarios) scenario_list="${2:?--scenarios needs a value}"; shift 2 ;;
        --latency-samples) latency_samples="${2:?--latency-samples needs a value}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "compare-filebeat: unknown argument $1" >&2; usage ;;
    esac
done
IFS=, read -r -a sizes <<<"$sizes_arg"
IFS=, read -r -a events_list <<<"$events_arg"
# The default count: a million short lines, 300,000 of 512 bytes or more (~300 MB), so
# that a cell takes seconds for Filebeat, not minutes.
default_events() { if (( $1 < 512 )); then echo 1000000; else echo 300000; fi; }
declare -A events_of=()
for k in "${!sizes[@]}"; do
    b="${sizes[$k]}"
    [[ "$b" =~ ^[1-9][0-9]*$ ]] || { echo "compare-filebeat: line size '$b' is not a positive integer" >&2; exit 2; }
    (( b >= 40 )) || { echo "compare-filebeat: --line-bytes must be at least 40" >&2; exit 2; }
    case "${#events_list[@]}" in
        0) events_of[$b]="$(default_events "$b")" ;;
        1) events_of[$b]="${events_list[0]}" ;;
        "${#sizes[@]}") events_of[$b]="${events_list[$k]}" ;;
        *) echo "compare-filebeat: --events takes one count or one per line size (${#sizes[@]})" >&2; exit 2 ;;
    esac
done
for v in "${events_of[@]}" "$runs"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "compare-filebeat: '$v' is not a positive integer" >&2; exit 2; }
done
[[ "$latency_samples" =~ ^[0-9]+$ ]] || { echo "compare-filebeat: --latency-samples must be a number, not $latency_samples" >&2; exit 2; }
[[ "$lw_input" == file || "$lw_input" == stdin ]] \
    || { echo "compare-filebeat: --lw-input must be file or stdin, not $lw_input" >&2; exit 2; }
[[ "$scenario_list" == all ]] && scenario_list="c0-plain,c0-tls,c3-plain,c3-tls"
for sc in ${scenario_list//,/ }; do
    [[ "$sc" =~ ^c[03]-(plain|tls)$ ]] \
        || { echo "compare-filebeat: unknown scenario $sc (c0-plain, c0-tls, c3-plain, c3-tls, all)" >&2; exit 2; }
done
run_timeout="${RUN_TIMEOUT_SECS:-300}"
fb_input="${FILEBEAT_INPUT:-filestream}"
[[ "$fb_input" == filestream || "$fb_input" == log ]] \
    || { echo "compare-filebeat: FILEBEAT_INPUT must be filestream or log, not $fb_input" >&2; exit 2; }

# ---- tools ---------------------------------------------------------------------------
need_gnu_time
command -v python3 >/dev/null || die "python3 is needed (line generator, medians)"

if [[ -n "${LUMBERWATCH_BIN:-}" ]]; then
    lw="$LUMBERWATCH_BIN"
else
    say "building: cargo build --release"
    cargo build --release --quiet >&2
    lw="${CARGO_TARGET_DIR:-$repo/target}/release/lumberwatch"
fi
[[ -x "$lw" ]] || die "no lumberwatch binary at $lw"
"$lw" receive --help 2>/dev/null | grep -q -- '--exit-after' \
    || die "$lw has no 'receive --exit-after' (is src/main.rs the CLI?)"
"$lw" bench limits --help >/dev/null 2>&1 || die "$lw has no 'bench limits' (built from an older tree?)"
fb="${FILEBEAT_BIN:-$("$repo/scripts/fetch-filebeat.sh")}"
[[ -x "$fb" ]] || die "no filebeat binary at $fb"

setup_run_dir

results="$run_dir/results.tsv"
: >"$results"

# one_run <scenario> <level> <tls> <shipper> <i>: appends a line to $results (for the
# current $line_bytes, $events and $lines).
one_run() {
    local scenario="$1" level="$2" tls="$3" shipper="$4" i="$5"
    local tag="b$line_bytes-$scenario-$shipper-$i" dir="$run_dir/b$line_bytes-$scenario-$shipper-$i"
    local sh_time="$dir/shipper.time" sh_log="$dir/shipper.log"
    local rx_args=()
    [[ "$tls" == 1 ]] && rx_args=(--tls "$repo/certs/server.crt" "$repo/certs/server.key")
    if [[ "$shipper" == lumberwatch && "$level" != 0 ]]; then
        # The machine's speed moves by ±20 % between minutes here: this run's zlib
        # limit is taken just before it, so its share of the limit is read against the
        # machine as it is now.
        mkdir -p "$dir"
        "$lw" bench limits --file "$lines" --levels "$level" --tcp-mib 0 --tls-mib 0 \
            >"$dir/limits.txt" 2>/dev/null || rm -f "$dir/limits.txt"
    fi
    start_receiver "$tag" "${rx_args[@]}"
    start_shipper "$shipper" "$dir" "$rx_port" "$level" "$tls"
    local ok=1 note=""
    if ! wait_pid "$rx_pid" "$run_timeout"; then
        ok=0
        note="receiver did not see $events events within ${run_timeout}s"
    fi
    case "$shipper" in
        filebeat)
            # Filebeat never exits on its own: stop it now (SIGTERM, then SIGKILL).
            signal_children "$sh_pid" TERM
            if ! wait_pid "$sh_pid" 15; then
                signal_children "$sh_pid" KILL
                wait_pid "$sh_pid" 5 || true
            fi
            ;;
        lumberwatch)
            # A file input never ends: stop it like Filebeat, and expect a clean exit.
            [[ "$lw_input" == file ]] && signal_children "$sh_pid" TERM
            if ! wait_pid "$sh_pid" 20; then
                note="${note:+$note; }lumberwatch did not exit within 20s of the last event"
                signal_children "$sh_pid" TERM
                wait_pid "$sh_pid" 15 || true
            fi
            ;;
    esac
    stop_tracked
    local status
    status="$(sed -n 's/^\tExit status: //p' "$sh_time" 2>/dev/null || true)"
    if [[ "$shipper" == lumberwatch && "$status" != 0 ]]; then
        note="${note:+$note; }lumberwatch exit status ${status:-unknown}"
    fi
    if [[ "$shipper" == lumberwatch ]] && grep -qi 'error\|unacked' "$sh_log"; then
        note="${note:+$note; }$(grep -i -m1 'error\|unacked' "$sh_log")"
    fi
    local secs rx_bytes cpu rss rx_cpu rx_rss
    secs="$(sed -n 's/^first to last event: .* seconds=\([0-9.]*\) .*/\1/p' "$rx_err")"
    rx_bytes="$(sed -n 's/^received events=[0-9]* bytes=\([0-9]*\) .*/\1/p' "$rx_err")"
    read -r cpu rss < <(time_figures "$sh_time")
    read -r rx_cpu rx_rss < <(time_figures "$rx_time")
    if [[ "$ok" == 0 || -z "$secs" ]]; then
        say "  $tag: FAILED: ${note:-no timing from the receiver}"
        tail -n 5 "$rx_err" "$sh_log" >&2 || true
        printf '%s\t%s\t%s\t%s\t%s\t%s\tFAIL\t\t\t\t\t\t%s\n' "$line_bytes" "$events" \
            "$line_data_bytes" "$scenario" "$shipper" "$i" "$note" >>"$results"
        return 0
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$line_bytes" "$events" \
        "$line_data_bytes" "$scenario" "$shipper" "$i" \
        "$secs" "$cpu" "$rss" "$rx_bytes" "$rx_cpu" "$note" >>"$results"
    say "$(printf '  %-32s %7.3f s first->last %9.0f events/s  cpu %6.2f s (%4.2f cores)  rss %6.1f MB  receiver cpu %5.2f s (%4.2f cores)%s' \
        "$tag" "$secs" "$(python3 -c "print($events/$secs)")" "$cpu" "$(python3 -c "print($cpu/$secs)")" \
        "$(python3 -c "print($rss/1024)")" "$rx_cpu" "$(python3 -c "print($rx_cpu/$secs)")" "${note:+  ($note)}")"
}

# ---- the machine ---------------------------------------------------------------------
load_before="$(uptime)"
lw_rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]] || lw_rev="$lw_rev+dirty"
say ""
say "lumberwatch vs Filebeat 8.1.3: lines of ${sizes[*]} bytes, $runs runs per cell, scenarios $scenario_list"
say "  lumberwatch: $lw at $lw_rev ($([[ $lw_input == file ]] && echo "filestream input on the file" || echo "stdin input: the same file on stdin"))"
say "  filebeat:    $fb ($fb_input input on the file)"
say "  nproc $(nproc); load before: ${load_before##*load average: }"

# ---- per line size: the file, the limits, the runs ----------------------------------
scenarios=("c0-plain 0 0" "c0-tls 0 1" "c3-plain 3 0" "c3-tls 3 1")
started=$SECONDS
for line_bytes in "${sizes[@]}"; do
    events="${events_of[$line_bytes]}"
    line_file "$events" "$line_bytes"
    file_bytes=$(stat -c %s "$lines")
    line_data_bytes=$(( file_bytes - events ))   # without the newlines
    say ""
    say "== lines of ~$line_bytes bytes: $events lines ($((file_bytes / 1000000)) MB, $lines)"
    say "machine limits (lumberwatch bench limits --file ...; one core for build/encode):"
    # shellcheck disable=SC2086 # LIMITS_ARGS is a list of words
    "$lw" bench limits --file "$lines" ${LIMITS_ARGS:-} >"$run_dir/limits-$line_bytes.txt" \
        || die "bench limits failed on $lines"
    sed 's/^/  /' "$run_dir/limits-$line_bytes.txt" >&2
    for s in "${scenarios[@]}"; do
        read -r scenario level tls <<<"$s"
        [[ ",$scenario_list," == *",$scenario,"* ]] || continue
        say ""
        say "scenario $scenario ($line_bytes-byte lines): compression_level $level, $([[ $tls == 1 ]] && echo "TLS (verified, host localhost)" || echo "plain TCP")"
        for ((i = 1; i <= runs; i++)); do
            for shipper in filebeat lumberwatch; do
                one_run "$scenario" "$level" "$tls" "$shipper" "$i"
            done
        done
    done
done
load_after="$(uptime)"

# ---- the table -----------------------------------------------------------------------
say ""
table_md="$work/last-table.md"
python3 "$repo/benches/common/compare_table.py" "$results" "$run_dir" "$runs" "$table_md" \
    "lumberwatch $lw_rev, $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), load before ${load_before##*load average: }, after ${load_after##*load average: }"
say ""
say "load after: ${load_after##*load average: }   ($(( SECONDS - started )) s of limits and runs)"
say "markdown table: $table_md"
[[ -n "${KEEP_RUN_DIR:-}" ]] && say "per-run configs, logs and time -v output kept in $run_dir"

# ---- idle latency --------------------------------------------------------------------
# latency_run <shipper>: tails a fresh file into `receive --out`; prints one summary line.
latency_run() {
    local shipper="$1" dir="$run_dir/latency-$shipper" n port=""
    mkdir -p "$dir/data" "$dir/logs"
    # Dynamic scope: the config writers below read $lines and $lw_input.
    local lines="$dir/tailed.log" lw_input=file out="$dir/received.jsonl"
    : >"$lines"
    : >"$out"
    : >"$dir/rx.stdout"
    /usr/bin/time -v -o "$dir/rx.time" "$lw" receive --listen 127.0.0.1:0 --out "$out" \
        >"$dir/rx.stdout" 2>"$dir/rx.err" &
    local rpid=$!
    tracked+=("$rpid")
    for ((n = 0; n < 200; n++)); do
        port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$dir/rx.stdout")"
        [[ -n "$port" ]] && break
        sleep 0.05
    done
    [[ -n "$port" ]] || { cat "$dir/rx.err" >&2; die "the latency receiver did not start"; }
    start_shipper "$shipper" "$dir" "$port" 0 0
    local summary
    summary="$(python3 - "$lines" "$out" "$latency_samples" "${LATENCY_IDLE_SECS:-2}" <<'PY'
import os, statistics, sys, time
path, out, k, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
seen = open(out, "rb")
buf = b""
def wait_for(marker, limit):
    # Polls the receiver's --out file every 0.5 ms for a line holding marker.
    global buf
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        chunk = seen.read()
        if chunk:
            buf += chunk
            if marker in buf:
                now = time.monotonic()
                buf = buf[buf.rindex(b"\n") + 1:] if b"\n" in buf else buf
                return now
        time.sleep(0.0005)
    return None
def append(line):
    with open(path, "a") as f:
        f.write(line + "\n")
append("latency-warmup")
if wait_for(b"latency-warmup", 60) is None:
    print("FAILED: the warm-up line did not arrive within 60 s"); sys.exit(0)
ms = []
for i in range(k):
    time.sleep(idle)
    marker = f"latency-probe-{i}-{os.getpid()}"
    t0 = time.monotonic()
    append(marker)
    t1 = wait_for(marker.encode(), 30)
    if t1 is None:
        print(f"FAILED: probe {i} did not arrive within 30 s"); sys.exit(0)
    ms.append((t1 - t0) * 1000)
print(f"median {statistics.median(ms):7.1f} ms  min {min(ms):7.1f}  max {max(ms):7.1f}  ({k} samples, {idle:g} s idle before each)")
PY
)"
    say "$(printf '  %-12s %s' "$shipper" "$summary")"
    stop_tracked
}
if (( latency_samples > 0 )); then
    say ""
    say "idle latency: one line appended to a tailed file -> its line in the receiver's --out file"
    for shipper in lumberwatch filebeat; do
        latency_run "$shipper"
    done
fi
grep -q $'\tFAIL\t' "$results" && exit 1
exit 0
