#!/usr/bin/env bash
# A flame graph of one compare-filebeat scenario, lumberwatch shipping a generated file
# to `lumberwatch receive`, profiled with perf on the shipper's or the receiver's side.
#
#   benches/flamegraph.sh [--scenario c3-tls] [--line-bytes 150] [--events 1000000] [--side shipper|receiver] [--name NAME] [--call-graph fp|dwarf] [--minwidth PCT]
#
# Writes docs/flamegraphs/NAME.svg (default NAME: <scenario>-<bytes>-<side>) and
# NAME.txt: the samples grouped by what they were doing (zlib, TLS, building events,
# reading the file, the receiver's decoding, network, scheduler, memory, other kernel)
# and the top symbols by self time.
#
# The binary is a release build with line tables and frame pointers in its own target
# dir (target/profiling), unless LUMBERWATCH_BIN names one. perf comes from Debian's
# linux-perf (installed when missing and run as root), inferno from crates.io (cargo
# install inferno --locked --root target/tools, when missing). DWARF stacks are the
# default: with the line tables they show inlined functions and the callers of glibc's
# memcpy/malloc, which frame-pointer stacks lose (glibc has no frame pointers: a memcpy
# is charged to its caller's caller, a malloc to [unknown]); --call-graph fp costs ~20x
# less data (~1.5 MB against ~27 MB for 3 s of c3-tls) and is as readable otherwise.
#
# Env: LUMBERWATCH_BIN, FLAMEGRAPH_OUT (default docs/flamegraphs), PERF_FREQ (999),
#      RUN_TIMEOUT_SECS (300), KEEP_RUN_DIR=1 (keep perf.data and the folded stacks).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bench=flamegraph
# shellcheck source=common/lib.sh
source "$repo/benches/common/lib.sh"

scenario=c3-tls
line_bytes=150
events=1000000
side=shipper
name=""
call_graph=dwarf
minwidth=0.05
usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --scenario) scenario="${2:?--scenario needs a value}"; shift 2 ;;
        --line-bytes) line_bytes="${2:?--line-bytes needs a value}"; shift 2 ;;
        --events) events="${2:?--events needs a value}"; shift 2 ;;
        --side) side="${2:?--side needs a value}"; shift 2 ;;
        --name) name="${2:?--name needs a value}"; shift 2 ;;
        --call-graph) call_graph="${2:?--call-graph needs a value}"; shift 2 ;;
        --minwidth) minwidth="${2:?--minwidth needs a value}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "flamegraph: unknown argument $1" >&2; usage ;;
    esac
done
scenario_settings "$scenario"
for v in "$events" "$line_bytes"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"
done
[[ "$side" == shipper || "$side" == receiver ]] || die "--side must be shipper or receiver, not $side"
[[ "$call_graph" == fp || "$call_graph" == dwarf ]] || die "--call-graph must be fp or dwarf, not $call_graph"
name="${name:-$scenario-$line_bytes-$side}"
out_dir="${FLAMEGRAPH_OUT:-$repo/docs/flamegraphs}"
freq="${PERF_FREQ:-999}"
run_timeout="${RUN_TIMEOUT_SECS:-300}"
lw_input=file
fb_input=filestream

# ---- tools ---------------------------------------------------------------------------
need_gnu_time
command -v python3 >/dev/null || die "python3 is needed (line generator, summary)"
if ! command -v perf >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing perf (apt-get install -y linux-perf)"
        apt-get install -y -qq linux-perf >&2 || { apt-get update -qq >&2 && apt-get install -y -qq linux-perf >&2; }
    fi
    command -v perf >/dev/null || die "perf is needed: apt-get install linux-perf"
fi
tools="$repo/target/tools/bin"
if [[ ! -x "$tools/inferno-flamegraph" || ! -x "$tools/inferno-collapse-perf" ]]; then
    say "installing inferno (cargo install inferno --locked --root target/tools)"
    cargo install inferno --locked --quiet --root "$repo/target/tools" >&2
fi
if [[ -n "${LUMBERWATCH_BIN:-}" ]]; then
    lw="$LUMBERWATCH_BIN"
else
    say "building: cargo build --release with line tables and frame pointers (target/profiling)"
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only RUSTFLAGS="-C force-frame-pointers=yes" \
        CARGO_TARGET_DIR="$repo/target/profiling" cargo build --release --quiet >&2
    lw="$repo/target/profiling/release/lumberwatch"
fi
[[ -x "$lw" ]] || die "no lumberwatch binary at $lw"

setup_run_dir
line_file "$events" "$line_bytes"
mkdir -p "$out_dir"

# ---- the run -------------------------------------------------------------------------
perf_data="$run_dir/perf.data"
profiler=(perf record -F "$freq" --call-graph "$call_graph" -o "$perf_data" --)
say "profiling the $side: $scenario, $events lines of ~$line_bytes bytes, perf -F $freq --call-graph $call_graph"
rx_args=()
[[ "$tls" == 1 ]] && rx_args=(--tls "$repo/certs/server.crt" "$repo/certs/server.key")
[[ "$side" == receiver ]] && rx_wrap=("${profiler[@]}")
start_receiver "$side" "${rx_args[@]}"
dir="$run_dir/shipper"
sh_wrap=()
[[ "$side" == shipper ]] && sh_wrap=("${profiler[@]}")
start_shipper lumberwatch "$dir" "$rx_port" "$level" "$tls" "${sh_wrap[@]}"
wait_pid "$rx_pid" "$run_timeout" || die "the receiver did not see $events events within ${run_timeout}s"
# The file input never ends: SIGTERM lumberwatch itself (under perf, a grandchild).
if [[ "$side" == shipper ]]; then
    for p in $(pgrep -P "$sh_pid" 2>/dev/null || true); do signal_children "$p" TERM; done
else
    signal_children "$sh_pid" TERM
fi
wait_pid "$sh_pid" 30 || die "lumberwatch did not exit within 30 s of the last event"
stop_tracked
secs="$(sed -n 's/^first to last event: .* seconds=\([0-9.]*\) .*/\1/p' "$rx_err")"
read -r rx_cpu _ < <(time_figures "$rx_time")
read -r sh_cpu _ < <(time_figures "$dir/shipper.time")
say "  $events events in ${secs:-?} s first->last; CPU (with perf's own): shipper $sh_cpu s, receiver $rx_cpu s"

# ---- the graph and the summary -------------------------------------------------------
folded="$run_dir/stacks.folded"
perf script -i "$perf_data" 2>/dev/null | "$tools/inferno-collapse-perf" --all >"$folded"
[[ -s "$folded" ]] || die "perf recorded no stacks"
title="lumberwatch $side, $scenario, $line_bytes-byte lines ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
"$tools/inferno-flamegraph" --minwidth "$minwidth" --title "$title" \
    --subtitle "perf -F $freq --call-graph $call_graph; $events events in ${secs:-?} s" <"$folded" >"$out_dir/$name.svg"
python3 - "$folded" "$title" >"$out_dir/$name.txt" <<'PY'
# Groups the samples by the first rule any frame of the stack matches (in this order),
# then lists the symbols with the most self time (the leaf frames).
import collections, re, sys
path, title = sys.argv[1], sys.argv[2]
rules = [
    # What the work is for, looked for anywhere along the stack, in this order...
    ("receiver: JSON check (serde_json, as Logstash parses)", r"first_invalid_json|IgnoredAny"),
    ("zlib (deflate/inflate)", r"zlib_rs|flate2|miniz|deflate|inflate|adler32|crc32"),
    ("TLS (rustls, ring)", r"rustls|ring::|ring_core|aes_|gcm_|_aesni|chacha|poly1305|sha256|sha512"),
    ("JSON and event building", r"EventTemplate|lumberwatch::event::|serde_json|humantime|write_log_member|LineEvents|format_rfc3339"),
    ("file reading (harvester, read(2))", r"harvester|LineSplitter|lines::|ksys_read|vfs_read|filemap_read|ext4_file|xfs_file|ovl_read"),
    ("network (kernel send/recv)", r"tcp_sendmsg|tcp_recvmsg|sock_sendmsg|sock_recvmsg|sock_write|sock_read|__sys_sendto|__sys_recvfrom|tcp_v4|ip_finish|loopback|net_rx|__netif|tcp_rcv"),
    ("receiver: frames and acks", r"lumberwatch::receive::|proto::decode|proto::Decoder"),
    ("Lumberjack framing (BatchEncoder)", r"proto::encode|BatchEncoder|encode_json"),
    # ... then, for the rest, what the leaf is ...
    ("memory (malloc, free, memcpy)", r"^(malloc|_int_free|cfree|_int_malloc|_int_realloc|realloc|free|__memcpy|__memmove|__memset|memcpy|memmove|madvise|__rust_alloc|__rust_dealloc)"),
    # ... and what the stack runs under.
    ("output, queue, acks", r"lumberwatch::output::|lumberwatch::queue::|Outlet|AckSink|registry::"),
    ("tokio and scheduler", r"tokio::|mio::|parking_lot|futex|__schedule|schedule|epoll|pick_next|try_to_wake_up|finish_task_switch"),
]
leaf_rules = {"memory (malloc, free, memcpy)"}
rules = [(n, re.compile(p)) for n, p in rules]
groups, leaves, total = collections.Counter(), collections.Counter(), 0
for line in open(path):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not count.isdigit():
        continue
    n = int(count)
    total += n
    frames = stack.split(";")
    leaves[frames[-1]] += n
    for name, rx in rules:
        if any(rx.search(f) for f in (frames[-1:] if name in leaf_rules else frames[1:])):
            groups[name] += n
            break
    else:
        groups["other kernel" if frames[-1].endswith("_[k]") else "other"] += n
print(title)
print(f"{total} perf sample weight (shares below are of it)")
print()
print("share  group (first match along the stack)")
for name, n in groups.most_common():
    print(f"{n * 100 / total:5.1f}% {name}")
print()
print("self   top symbols (leaf frames)")
for sym, n in leaves.most_common(25):
    print(f"{n * 100 / total:5.1f}% {sym[:150]}")
PY
size_kb=$(( $(stat -c %s "$out_dir/$name.svg") / 1024 ))
say "wrote $out_dir/$name.svg ($size_kb KiB) and $out_dir/$name.txt"
(( size_kb < 1536 )) || say "  over 1.5 MiB: rerun with a larger --minwidth (now $minwidth)"
sed -n '1,14p' "$out_dir/$name.txt" >&2
