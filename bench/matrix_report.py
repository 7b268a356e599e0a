#!/usr/bin/env python3
"""Turns bench/run_matrix.sh's JSON lines into the Markdown tables of
docs/benchmarks.md and, with --png, a gnuplot chart.

    bench/matrix_report.py RESULTS.jsonl [--png docs/benchmark.png] [--head FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

PEERS = ["wsrelay", "nchan", "node", "wsrelay-history", "wsrelay-positions"]
NAMES = {"wsrelay": "wsrelay", "nchan": "Nchan", "node": "Node relay",
         "wsrelay-history": "wsrelay, history", "wsrelay-positions": "wsrelay, history + positions"}
# The peers of the comparison (ratios, chart); the other two are wsrelay with
# history on (docs/history.md), compared with wsrelay alone in their own table.
RIVALS = ["nchan", "node"]
HISTORY = ["wsrelay-history", "wsrelay-positions"]


def load(path):
    runs = {}
    floor = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                if r["peer"] == "floor":
                    floor[r["size"]] = r
                else:
                    runs[(r["peer"], r["size"], r["mode"])] = r
    return runs, floor


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def get(runs, peer, size, mode, key, sub=None):
    r = runs.get((peer, size, mode))
    if r is None:
        return None
    v = r.get(key)
    if sub is not None and v is not None:
        v = v.get(sub)
    return v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--png")
    ap.add_argument("--head")
    args = ap.parse_args()
    runs, floor = load(args.results)
    peers = [p for p in PEERS if any(k[0] == p for k in runs)]
    sizes = sorted({k[1] for k in runs})
    out = []
    if args.head and os.path.exists(args.head):
        out += [line.rstrip("\n") for line in open(args.head)] + [""]

    out.append("| server | connections | accepted/s | RSS KiB/conn | RSS KiB/conn after sat, idle "
               "| delivered/s (sat) "
               "| server µs/delivery (sat) | server CPU % (sat) | client CPU % (sat) "
               "| p50 ms (1/s) | p99 ms (1/s) | max ms (1/s) | server µs/delivery (1/s) | lost "
               "| noise % (sat / 1/s) |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for p in peers:
        for n in sizes:
            def g(mode, key, sub=None):
                return get(runs, p, n, mode, key, sub)
            accepted = [v for v in (g("sat", "connects_per_second"), g("lat", "connects_per_second"))
                        if v is not None]
            rss = [v for v in (g("sat", "server_rss_per_connection_kib"),
                               g("lat", "server_rss_per_connection_kib")) if v is not None]
            lost = sum((g(m, "lost") or 0) + (g(m, "duplicated") or 0) + (g(m, "out_of_order") or 0)
                       + (g(m, "connections_failed") or 0) for m in ("sat", "lat"))
            out.append("| " + " | ".join([
                NAMES[p], fmt(n),
                fmt(max(accepted) if accepted else None),
                fmt(min(rss) if rss else None, 2),
                fmt(g("sat", "server_rss_idle_per_connection_kib"), 2),
                fmt(g("sat", "delivered_per_second")),
                fmt(g("sat", "server_cpu_us_per_delivery"), 2),
                fmt(g("sat", "server_cpu_percent")),
                fmt(g("sat", "client_cpu_percent")),
                fmt(g("lat", "latency_ms", "p50"), 2),
                fmt(g("lat", "latency_ms", "p99"), 2),
                fmt(g("lat", "latency_ms", "max"), 2),
                fmt(g("lat", "server_cpu_us_per_delivery"), 2),
                fmt(lost),
                fmt(g("sat", "other_cpu_percent")) + " / " + fmt(g("lat", "other_cpu_percent")),
            ]) + " |")

    others = [p for p in peers if p in RIVALS]
    if "wsrelay" in peers and others:
        out.append("")
        out.append("wsrelay relative to each peer (wsrelay ÷ peer; below 1 is better for CPU, "
                   "RSS and latency, above 1 for throughput):")
        out.append("")
        out.append("| vs | connections | server µs/delivery | delivered/s | RSS/conn | p99 (1/s) |")
        out.append("|---|--:|--:|--:|--:|--:|")
        for o in others:
            for n in sizes:
                def w(mode, key, sub=None):
                    return get(runs, "wsrelay", n, mode, key, sub)

                def q(mode, key, sub=None):
                    return get(runs, o, n, mode, key, sub)
                out.append("| " + " | ".join([
                    NAMES[o], fmt(n),
                    fmt(ratio(w("sat", "server_cpu_us_per_delivery"),
                              q("sat", "server_cpu_us_per_delivery")), 2),
                    fmt(ratio(w("sat", "delivered_per_second"), q("sat", "delivered_per_second")), 2),
                    fmt(ratio(w("lat", "server_rss_per_connection_kib"),
                              q("lat", "server_rss_per_connection_kib")), 2),
                    fmt(ratio(w("lat", "latency_ms", "p99"), q("lat", "latency_ms", "p99")), 2),
                ]) + " |")

    with_history = [p for p in peers if p in HISTORY]
    if "wsrelay" in peers and with_history:
        out.append("")
        out.append("The cost of history (saturating runs): wsrelay alone, then with the facility's "
                   "history on (each message through the history script: XADD + PUBLISH), "
                   "clients plain or asking for positions; ratios to wsrelay alone in brackets:")
        out.append("")
        out.append("| wsrelay | connections | server µs/delivery | server µs/message "
                   "| Redis µs/message | delivered/s | lost |")
        out.append("|---|--:|--:|--:|--:|--:|--:|")
        for n in sizes:
            def base(key):
                return get(runs, "wsrelay", n, "sat", key)
            for p in ["wsrelay"] + with_history:
                def g(key):
                    return get(runs, p, n, "sat", key)

                def cell(key, digits):
                    v = g(key)
                    if p == "wsrelay" or v is None:
                        return fmt(v, digits)
                    return f"{fmt(v, digits)} ({fmt(ratio(v, base(key)), 2)})"
                if g("delivered") is None:
                    continue
                lost = (g("lost") or 0) + (g("duplicated") or 0) + (g("out_of_order") or 0)
                out.append("| " + " | ".join([
                    "history off" if p == "wsrelay" else NAMES[p][len("wsrelay, "):], fmt(n),
                    cell("server_cpu_us_per_delivery", 2), cell("server_cpu_us_per_message", 1),
                    cell("redis_cpu_us_per_message", 1), cell("delivered_per_second", 0),
                    fmt(lost)]) + " |")

    if floor:
        out.append("")
        out.append("Loopback floor (bench/loopback_floor.cpp): one 66-byte write(2) per socket, "
                   "no server logic, receiver idle in epoll_wait; median of 5 rounds:")
        out.append("")
        out.append("| sockets | sender CPU µs per write | first write → last byte read, ms "
                   "| wsrelay server µs/delivery (1/s) | wsrelay max ms (1/s) |")
        out.append("|--:|--:|--:|--:|--:|")
        for n in sorted(floor):
            f = floor[n]
            out.append("| " + " | ".join([
                fmt(n), fmt(f.get("cpu_us_per_write"), 2), fmt(f.get("fanout_ms"), 1),
                fmt(get(runs, "wsrelay", n, "lat", "server_cpu_us_per_delivery"), 2),
                fmt(get(runs, "wsrelay", n, "lat", "latency_ms", "max"), 1)]) + " |")

    if "wsrelay" in peers:
        out.append("")
        out.append("Targets (issue 3), wsrelay in this run:")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")
        big = [n for n in sizes if n >= 5000]
        cpu = [get(runs, "wsrelay", n, "sat", "server_cpu_us_per_delivery") for n in big]
        nchan = [get(runs, "nchan", n, "sat", "server_cpu_us_per_delivery") for n in big]
        if cpu and all(v is not None for v in cpu):
            third = all(c is not None and v <= c / 3 for v, c in zip(cpu, nchan))
            out.append("| server CPU per delivery, 5k–10k, saturating: ≤ 2 µs and ≤ 1/3 of Nchan | "
                       + ", ".join(f"{fmt(v, 2)} µs" for v in cpu)
                       + (" (Nchan " + ", ".join(f"{fmt(c, 2)}" for c in nchan) + ")"
                          if all(c is not None for c in nchan) else "")
                       + " | " + ("yes" if all(v <= 2 for v in cpu) and third else "no") + " |")
        rss = get(runs, "wsrelay", 10000, "lat", "server_rss_per_connection_kib")
        if rss is not None:
            out.append(f"| RSS per idle connection at 10k ≤ 4 KiB | {fmt(rss, 2)} KiB | "
                       + ("yes" if rss <= 4 else "no") + " |")
        p99 = get(runs, "wsrelay", 10000, "lat", "latency_ms", "p99")
        if p99 is not None:
            fl = floor.get(10000, {}).get("fanout_ms")
            out.append(f"| p99 at 10k subscribers, 1 msg/s ≤ 30 ms | {fmt(p99, 2)} ms"
                       + (f" (loopback floor for 10k writes: {fmt(fl, 1)} ms)" if fl else "")
                       + " | " + ("yes" if p99 <= 30 else "no") + " |")
        lost = sum((r.get("lost") or 0) + (r.get("duplicated") or 0) for k, r in runs.items()
                   if k[0] == "wsrelay")
        out.append(f"| 0 messages lost | {lost} lost or duplicated | " + ("yes" if lost == 0 else "no")
                   + " |")
        acc = [r.get("connects_per_second") or 0 for k, r in runs.items() if k[0] == "wsrelay"]
        if acc:
            out.append(f"| ≥ 10k connections accepted per second | best {fmt(max(acc))}/s, worst "
                       f"{fmt(min(acc))}/s | " + ("yes" if min(acc) >= 10000 else "no") + " |")

    print("\n".join(out))
    if args.png:
        chart(runs, [p for p in peers if p not in HISTORY], sizes, args.png)


def chart(runs, peers, sizes, png):
    # (mode, key, sub-key, title, log scale, issue 3 target or None)
    panels = [
        ("sat", "server_cpu_us_per_delivery", None,
         "server CPU per delivery, saturating (µs, lower is better)", False, 2),
        ("sat", "delivered_per_second", None,
         "deliveries per second on one server core (thousands, higher is better)", False, None),
        ("lat", "server_rss_per_connection_kib", None,
         "server RSS per idle connection (KiB, lower is better)", False, 4),
        ("lat", "latency_ms", "p99", "p99 latency at 1 msg/s (ms, log scale, lower is better)", True,
         30),
    ]
    # Only panels with data (a subset run may have no saturating runs).
    panels = [pn for pn in panels
              if any(get(runs, p, n, pn[0], pn[1], pn[2]) is not None for p in peers for n in sizes)]
    if not panels:
        return
    layout = "2,2" if len(panels) > 2 else f"1,{len(panels)}"
    with tempfile.TemporaryDirectory() as tmp:
        script = [
            'set terminal pngcairo size 1400,900 font "DejaVu Sans,11"',
            f'set output "{png}"',
            f'set multiplot layout {layout} title "wsrelay vs Nchan vs Node relay — '
            '64-byte broadcast, one server core" font ",14"',
            "set style data histograms",
            "set style histogram clustered gap 1",
            "set style fill solid 0.85 border -1",
            "set boxwidth 0.9",
            "set grid ytics",
            "set key top left horizontal",
            "set offsets 0, 0, graph 0.2, 0",
            "set xlabel \"connections\"",
            "set yrange [0:*]",
        ]
        colors = {"wsrelay": "#1f77b4", "nchan": "#2ca02c", "node": "#ff7f0e"}
        for i, (mode, key, sub, title, log, target) in enumerate(panels):
            data = os.path.join(tmp, f"p{i}.dat")
            with open(data, "w") as f:
                for n in sizes:
                    vals = []
                    for p in peers:
                        v = get(runs, p, n, mode, key, sub)
                        if v is not None and key == "delivered_per_second":
                            v = v / 1000
                        vals.append("NaN" if v is None else f"{max(v, 1e-3) if log else v:.6g}")
                    f.write(f"{n} " + " ".join(vals) + "\n")
            script.append(f'set title "{title}"')
            script.append("set logscale y" if log else "unset logscale y")
            script.append("set yrange [*:*]" if log else "set yrange [0:*]")
            script.append("unset arrow")
            script.append("unset label")
            if target is not None:
                script.append(f"set arrow from graph 0, first {target} to graph 1, first {target} "
                              'nohead dt 2 lw 2 lc rgb "#d62728" front')
                script.append(f'set label "target {target}" at graph 0.99, first {target} right '
                              'offset 0, 0.6 tc rgb "#d62728" front')
            plots = []
            for j, p in enumerate(peers):
                xt = ":xtic(1)" if j == 0 else ""
                plots.append(f'"{data}" using {j + 2}{xt} title "{NAMES[p]}" '
                             f'lc rgb "{colors[p]}"')
            script.append("plot " + ", ".join(plots))
        script.append("unset multiplot")
        gp = os.path.join(tmp, "chart.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        subprocess.run(["gnuplot", gp], check=True)
        print(f"\n(chart written to {png})", file=sys.stderr)


if __name__ == "__main__":
    main()
