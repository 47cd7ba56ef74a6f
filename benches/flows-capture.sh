#!/usr/bin/env bash
# Packets/s a `type: flows` input captures on a veth pair, what the kernel dropped,
# and the agent's CPU per 100,000 packets/s. Root only (network namespaces).
#
#   benches/flows-capture.sh [seconds=5] [senders=1]
#
# Namespace A floods UDP datagrams (64 bytes of payload, 64 source ports, so 64 flows,
# per sender) from `senders` processes at 10.10.10.1 to 10.10.10.9:514; the release binary runs
# `lumberwatch run` in namespace B capturing on veth1 with a port filter, events to
# the console (discarded). The figures come from the agent's own "flows stopped" line
# and /proc/<pid>/stat; namespaces and processes are cleaned up on exit.
set -euo pipefail
secs=${1:-5}
senders=${2:-1}
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/lumberwatch
a=lwbench-$$-a
b=lwbench-$$-b
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip -n "$a" link add veth0 type veth peer name veth1 netns "$b"
ip -n "$a" addr add 10.10.10.1/24 dev veth0
ip -n "$b" addr add 10.10.10.9/24 dev veth1
ip -n "$a" link set veth0 up
ip -n "$b" link set veth1 up
cat > "$work/flows.yml" <<EOF
lumberwatch.inputs:
  - type: flows
    interface: veth1
    period: 10s
    filter: {transports: [udp], ports: [514]}
output.console: {}
logging.metrics.enabled: false
path.data: $work/data
EOF
ip netns exec "$b" "$bin" run -c "$work/flows.yml" > /dev/null 2> "$work/agent.log" &
pid=$!
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(ticks)
start=$(date +%s.%N)
sending=()
for i in $(seq 0 $((senders - 1))); do
    ip netns exec "$a" python3 -c "
import socket, time
end = time.time() + $secs
socks = []
for p in range(40000 + 64 * $i, 40064 + 64 * $i):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('10.10.10.1', p))
    socks.append(s)
data = b'x' * 64
sent = 0
while time.time() < end:
    for s in socks:
        for _ in range(16):
            s.sendto(data, ('10.10.10.9', 514))
    sent += 1024
print(sent)
" > "$work/sent.$RANDOM" &
    sending+=($!)
done
wait "${sending[@]}"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
after=$(ticks)
sleep 1.5
kill -INT "$pid"
wait "$pid" || true
pid=
sent=$(cat "$work"/sent.* | paste -sd+ | bc)
line=$(grep "flows stopped" "$work/agent.log")
packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' <<< "$line")
drops=$(sed -n 's/.*kernel_drops=\([0-9]*\).*/\1/p' <<< "$line")
hz=$(getconf CLK_TCK)
cpu=$(echo "($after - $before) / $hz" | bc -l)
pps=$(echo "$packets / $elapsed" | bc -l)
printf 'sent %d packets in %.1f s; captured %d (%.0f packets/s), kernel drops %d\n' \
    "$sent" "$elapsed" "$packets" "$pps" "$drops"
printf 'agent CPU %.2f s = %.1f%% of a core, %.1f%% of a core per 100,000 packets/s\n' \
    "$cpu" "$(echo "100 * $cpu / $elapsed" | bc -l)" "$(echo "100 * $cpu / $elapsed / ($pps / 100000)" | bc -l)"
