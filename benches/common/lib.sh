# Shared by benches/compare-filebeat.sh and benches/flamegraph.sh (sourced, not run):
# messages, the child processes a bench starts and their cleanup, the generated line
# files, the receiver, the shippers' configs. Loopback only.
#
# The sourcing script sets: repo (the checkout), bench (its name, for messages), and
# before calling the functions below: lw (the lumberwatch binary), run_dir (from
# setup_run_dir), events, lines (from line_file), lw_input (file|stdin), fb_input.

say() { printf '%s\n' "$*" >&2; }
die() { say "$bench: $*"; exit 1; }

# GNU time (for CPU and peak RSS), installed when missing and run as root.
need_gnu_time() {
    if [[ ! -x /usr/bin/time ]]; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
            say "installing GNU time (apt-get install -y time)"
            apt-get install -y -qq time >&2 || { apt-get update -qq >&2 && apt-get install -y -qq time >&2; }
        fi
        [[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is needed: apt-get install time"
    fi
}

# ---- child processes and cleanup -----------------------------------------------------
# Pids we started (often /usr/bin/time or perf wrappers: their children are the real
# processes).
tracked=()

# signal_children <pid> <signal>: sends it to the pid's direct children.
signal_children() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null || true); do kill "-$2" "$c" 2>/dev/null || true; done
}

stop_tracked() {
    local t n
    for t in "${tracked[@]}"; do signal_children "$t" TERM; done
    for t in "${tracked[@]}"; do
        for ((n = 0; n < 50; n++)); do kill -0 "$t" 2>/dev/null || break; sleep 0.1; done
        signal_children "$t" KILL
        wait "$t" 2>/dev/null || true
    done
    tracked=()
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

# setup_run_dir: work=target/compare, run_dir=a fresh directory in it, removed on exit
# (unless KEEP_RUN_DIR is set) after every tracked process is stopped.
setup_run_dir() {
    work="$repo/target/compare"
    mkdir -p "$work"
    run_dir="$(mktemp -d "$work/run.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
bench_cleanup() {
    local rc=$?
    stop_tracked
    [[ -n "${KEEP_RUN_DIR:-}" ]] || rm -rf "$run_dir"
    exit "$rc"
}

# ---- the line file -------------------------------------------------------------------
# line_file <events> <line bytes>: sets lines to target/compare/lines-<N>x<B>-v1.log,
# generated the first time (deterministic: the same arguments give the same bytes).
line_file() {
    lines="$work/lines-${1}x${2}-v1.log"
    [[ -s "$lines" ]] && return 0
    say "generating $lines ($1 lines of ~$2 bytes)"
    python3 - "$lines.tmp" "$1" "$2" <<'PY'
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
    mv "$lines.tmp" "$lines"
}

# ---- the receiver and the shippers ---------------------------------------------------
# Parses GNU time -v output: "<cpu seconds> <peak rss kB>".
time_figures() {
    awk -F': ' '/User time \(seconds\)/ {u=$2} /System time \(seconds\)/ {s=$2}
        /Maximum resident set size/ {r=$2} END {printf "%.3f %d\n", u + s, r}' "$1"
}

# start_receiver <tag> [receive options...]: `lumberwatch receive --exit-after $events`
# on a free loopback port under /usr/bin/time -v, run through "${rx_wrap[@]}" when set
# (a profiler); sets rx_pid rx_time rx_out rx_err rx_port.
rx_wrap=()
start_receiver() {
    local tag="$1" n
    shift
    rx_time="$run_dir/$tag.receiver.time"
    rx_out="$run_dir/$tag.receiver.out"
    rx_err="$run_dir/$tag.receiver.err"
    # Created here: the background child opens them after the fork, maybe after we read.
    : >"$rx_out"
    : >"$rx_err"
    /usr/bin/time -v -o "$rx_time" "${rx_wrap[@]}" "$lw" receive --listen 127.0.0.1:0 \
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

# output_logstash <port> <level>: the output settings both shippers get.
output_logstash() {
    cat <<EOF
output.logstash:
  hosts: ["localhost:$1"]
  compression_level: $2
  bulk_max_size: 2048
  worker: 1
  pipelining: 2
  slow_start: false
EOF
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
$(output_logstash "$2" "$3")
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
$(output_logstash "$2" "$3")
$ssl
path.data: $1/data
queue.mem.events: 4096
logging.level: warning
logging.metrics.enabled: false
EOF
}

# start_shipper <filebeat|lumberwatch> <dir> <port> <level> <tls 0|1> [wrapper...]: writes
# the shipper's config into dir and starts it under /usr/bin/time -v (dir/shipper.time),
# through the wrapper when given (a profiler), output in dir/shipper.log; sets sh_pid.
# lumberwatch with lw_input=stdin reads $lines on stdin.
start_shipper() {
    local shipper="$1" dir="$2" port="$3" level="$4" tls="$5" stdin=/dev/null
    shift 5
    mkdir -p "$dir/data" "$dir/logs"
    case "$shipper" in
        filebeat)
            filebeat_config "$dir" "$port" "$level" "$tls"
            /usr/bin/time -v -o "$dir/shipper.time" "$@" "$fb" -c "$dir/filebeat.yml" \
                --strict.perms=false --path.home "$dir" --path.config "$dir" \
                --path.data "$dir/data" --path.logs "$dir/logs" </dev/null >"$dir/shipper.log" 2>&1 &
            ;;
        lumberwatch)
            lumberwatch_config "$dir" "$port" "$level" "$tls"
            [[ "$lw_input" == stdin ]] && stdin="$lines"
            /usr/bin/time -v -o "$dir/shipper.time" "$@" "$lw" run -c "$dir/lumberwatch.yml" \
                <"$stdin" >"$dir/shipper.log" 2>&1 &
            ;;
        *) die "unknown shipper $shipper" ;;
    esac
    sh_pid=$!
    tracked+=("$sh_pid")
}

# scenario_settings <scenario>: sets level and tls (0|1) for c0-plain, c0-tls, c3-plain, c3-tls.
scenario_settings() {
    [[ "$1" =~ ^c([0-9])-(plain|tls)$ ]] || die "unknown scenario $1 (c0-plain, c0-tls, c3-plain, c3-tls)"
    level="${BASH_REMATCH[1]}"
    tls=0
    [[ "${BASH_REMATCH[2]}" == tls ]] && tls=1
    return 0
}
