"""The table of benches/compare-filebeat.sh: medians per cell, each read against the
machine's limits of the same run, and the lumberwatch/Filebeat ratios; printed, and
written as markdown.

python3 compare_table.py RESULTS_TSV RUN_DIR RUNS MARKDOWN_OUT TITLE

RESULTS_TSV rows: line_bytes events line_data_bytes scenario shipper run status secs
cpu rss_kb rx_bytes rx_cpu note. RUN_DIR holds limits-<line_bytes>.txt, the output of
`lumberwatch bench limits` (lines `limit <figure> key=value ...`).
"""

import statistics
import sys

results, run_dir, runs, md_out, title = sys.argv[1:6]
runs = int(runs)


def limits_of(size, run=None):
    """The limits of a line size, or those taken just before one run (`run`: its
    directory name), which the compressed lumberwatch runs have."""
    figures = {}
    path = f"{run_dir}/{run}/limits.txt" if run else f"{run_dir}/limits-{size}.txt"
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) < 2 or words[0] != "limit":
                    continue
                kv = dict(w.split("=", 1) for w in words[2:] if "=" in w)
                name = words[1] + (kv["level"] if words[1] == "encode" else "")
                figures[name] = kv
    except FileNotFoundError:
        pass
    return figures


def level_of(scenario):
    return int(scenario[1])


cells, fails, limits = {}, {}, {}
for row in open(results):
    f = row.rstrip("\n").split("\t")
    size, n, data_bytes, sc, sh = int(f[0]), int(f[1]), int(f[2]), f[3], f[4]
    key = (size, sc, sh)
    lim = limits.setdefault(size, limits_of(size))
    if f[6] != "ok":
        fails[key] = fails.get(key, 0) + 1
        continue
    secs, cpu, rss, rx_bytes, rx_cpu = float(f[7]), float(f[8]), int(f[9]), int(f[10] or 0), float(f[11])
    m = dict(eps=n / secs, mbs=data_bytes / secs / 1e6, cpu=cpu / n * 1e6, cores=cpu / secs,
             rss=rss / 1024, rx_cores=rx_cpu / secs, rx_cpu=rx_cpu / n * 1e6, ev_bytes=rx_bytes / n)
    # The share of the machine's limit: with compression, events per CPU-second of the
    # shipper against one core of BatchEncoder at that level; without, the event bytes
    # moved per second against one loopback stream's copy rate.
    level = level_of(sc)
    own = limits_of(size, f"b{size}-{sc}-{sh}-{f[5]}") if level > 0 else {}
    if f"encode{level}" in own:
        m["limit_eps"] = float(own[f"encode{level}"]["events_per_cpu_s"])
        m["limit"] = (n / cpu) / m["limit_eps"] if cpu > 0 else 0
    elif level > 0 and f"encode{level}" in lim:
        m["limit"] = (n / cpu) / float(lim[f"encode{level}"]["events_per_cpu_s"]) if cpu > 0 else 0
    else:
        copy = lim.get("tls_copy" if sc.endswith("tls") else "tcp_copy")
        if copy:
            m["limit"] = (rx_bytes / secs / 1e6) / float(copy["mb_per_s"])
    cells.setdefault(key, []).append(m)

med = {k: {m: statistics.median(r[m] for r in v if m in r) for m in v[0]} for k, v in cells.items()}
order = {"c0-plain": 0, "c0-tls": 1, "c3-plain": 2, "c3-tls": 3}
keys = sorted(set(cells) | set(fails), key=lambda k: (k[0], order.get(k[1], 9), k[1], k[2]))


def limit_text(sc, m):
    if "limit" not in m:
        return ""
    what = f"zlib{level_of(sc)}/core" if level_of(sc) > 0 else ("tls copy" if sc.endswith("tls") else "tcp copy")
    return f"{m['limit'] * 100:.0f}% {what}"


cols = [("line B", 6, None), ("scenario", 8, None), ("shipper", 11, None),
        ("events/s", 9, "eps", "{:.0f}"), ("MB/s", 6, "mbs", "{:.1f}"), ("CPU s/1M", 8, "cpu", "{:.2f}"),
        ("cores", 5, "cores", "{:.2f}"), ("RSS MB", 6, "rss", "{:.1f}"), ("rcv cores", 9, "rx_cores", "{:.2f}"),
        ("rcv s/1M", 8, "rx_cpu", "{:.2f}"), ("JSON B/ev", 9, "ev_bytes", "{:.0f}"), ("of the limit", 17, None),
        ("runs", 5, None)]


def cells_of(k):
    size, sc, sh = k
    ok, bad = len(cells.get(k, [])), fails.get(k, 0)
    out = [str(size), sc, sh]
    if not ok:
        return out + ["FAILED"] + [""] * (len(cols) - 5) + [f"{ok}/{ok + bad}"]
    m = med[k]
    out += [c[3].format(m[c[2]]) for c in cols[3:11]]
    return out + [limit_text(sc, m), f"{ok}/{ok + bad}"]


def ratio_rows():
    for size, sc in sorted({k[:2] for k in keys}, key=lambda k: (k[0], order.get(k[1], 9))):
        fb, lw = med.get((size, sc, "filebeat")), med.get((size, sc, "lumberwatch"))
        if not fb or not lw:
            yield size, sc, None
        else:
            yield size, sc, (lw["eps"] / fb["eps"], fb["cpu"] / lw["cpu"], fb["rss"] / lw["rss"])


def limit_lines():
    for size in sorted(limits):
        lim = limits[size]
        parts = []
        if "build" in lim:
            b = lim["build"]
            parts.append(f"building events {float(b['events_per_cpu_s']) / 1e3:.0f}k/s per core "
                         f"({b['json_bytes']} B of JSON each)")
        for level in (1, 3):
            e = lim.get(f"encode{level}")
            if e:
                parts.append(f"BatchEncoder level {level} {float(e['events_per_cpu_s']) / 1e3:.0f}k events/s per core "
                             f"({e['json_mb_per_cpu_s']} MB/s of JSON, ratio {e['ratio']})")
        for name in ("tcp_copy", "tls_copy"):
            c = lim.get(name)
            if c:
                parts.append(f"{name.replace('_', ' ')} {float(c['mb_per_s']):.0f} MB/s "
                             f"({c['cpu_s_per_gb']} CPU-s per GB{', ' + c['suite'] if 'suite' in c else ''})")
        yield size, parts


def own_limit_lines():
    """The zlib limit each compressed lumberwatch cell was read against (taken before
    each of its runs), as the median of those runs."""
    for k in keys:
        m = med.get(k, {})
        if "limit_eps" in m:
            yield (f"{k[0]}-byte {k[1]}: lumberwatch read against the level-{level_of(k[1])} limit taken just "
                   f"before each run, median {m['limit_eps'] / 1e3:.0f}k events/s per core")


widths = [c[1] for c in cols]
head = " ".join(f"{c[0]:>{w}}" if c[2] else f"{c[0]:<{w}}" for c, w in zip(cols, widths))
print(f"median of {runs} runs per cell. MB/s: line data; CPU s/1M and cores: the shipper's user+sys over its")
print("whole life, per million events and over the first->last seconds; rcv: the receiver's, the same way;")
print("JSON B/ev: event payload as received; of the limit: see below")
print(head)
print("-" * len(head))
last = None
for k in keys:
    if last is not None and k[:2] != last:
        print()
    last = k[:2]
    print(" ".join(f"{v:>{w}}" if c[2] else f"{v:<{w}}" for v, c, w in zip(cells_of(k), cols, widths)))
print()
print("lumberwatch / filebeat: throughput x (higher is better), CPU per event / and RSS / (times less)")
for size, sc, r in ratio_rows():
    if r is None:
        print(f"{size:>6} {sc:<9} (a shipper failed every run: no ratio)")
    else:
        print(f"{size:>6} {sc:<9} throughput x{r[0]:.2f}   CPU per event /{r[1]:.2f}   RSS /{r[2]:.2f}")
print()
print("of the limit: with compression, the shipper's events per CPU-second over one core of BatchEncoder")
print("at that level on the same file's events (the issue's target: >= 80% at level 3 over TLS);")
print("without, event bytes received per second over one loopback stream's copy rate (plain or TLS).")
for size, parts in limit_lines():
    print(f"limits, {size}-byte lines: " + "; ".join(parts))
for line in own_limit_lines():
    print(line)

with open(md_out, "w") as md:
    md.write(f"{title}; median of {runs} runs per cell\n\n")
    md.write("| " + " | ".join(c[0] for c in cols) + " |\n")
    md.write("|" + "|".join(" --- " if not c[2] else " ---: " for c in cols) + "|\n")
    for k in keys:
        md.write("| " + " | ".join(cells_of(k)) + " |\n")
    md.write("\n| line B | scenario | throughput × | CPU per event ÷ | RSS ÷ |\n| ---: | --- | ---: | ---: | ---: |\n")
    for size, sc, r in ratio_rows():
        md.write(f"| {size} | {sc} | " + (" | ".join(["–"] * 3) if r is None else
                                           f"×{r[0]:.2f} | ÷{r[1]:.2f} | ÷{r[2]:.2f}") + " |\n")
    md.write("\n")
    for size, parts in limit_lines():
        md.write(f"- limits, {size}-byte lines: " + "; ".join(parts) + "\n")
    for line in own_limit_lines():
        md.write(f"- {line}\n")
