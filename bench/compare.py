#!/usr/bin/env python3
"""The figure-picking and table-printing half of `make bench` (bench/run.sh runs the programs).

    compare.py plan   --bench REGEX            which peer sub-benchmarks to run, and the
                                               KIN_BENCH_FILTER for kin's programs
    compare.py filter --bench REGEX            copies stdin to stdout, dropping metric lines
                                               that were not selected
    compare.py table  --bench REGEX LOG...     kin's figures beside their peers, with ratios
    compare.py check                           checks that stdin (one kin program's output)
                                               holds well-formed kin.* metric lines only

Selection: with an empty REGEX everything is selected. Otherwise a kin figure is selected when
its name matches REGEX or when one of its peers' names does (bench/peers.tsv); a peer figure is
selected when its name matches REGEX or when it is the peer of a selected kin figure. So
`BENCH=pipe_rtt` shows kin.pipe_rtt beside c.rtt.pipe.8B, whose own name does not match.
Regexes are searched (not anchored), as kin's programs do (std::regex_search).
"""
import argparse
import math
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"^metric=(\S+) value=(\S+) unit=(\S+)\s*$")

# The peer programs, their sub-benchmarks and the figures each prints (from limits.c,
# limits_boost.cpp and python_mp.py in ../shared/bench-peers). Running a sub-benchmark alone
# prints exactly these lines; order = the order of run_all.sh.
PEER_COMMANDS = {
    "limits:spawn": ["c.spawn.fork_exit_wait", "c.spawn.vfork_exec_true",
                     "c.spawn.posix_spawn_true", "c.spawn.fork_exec_true",
                     "c.spawn.fork_exit_wait.rss256M", "c.spawn.posix_spawn_true.rss256M"],
    "limits:pingpong": ["c.rtt.pipe.1B", "c.rtt.pipe.8B", "c.rtt.unix_stream.8B",
                        "c.rtt.unix_seqpacket.8B", "c.rtt.shm_futex", "c.rtt.shm_spin"],
    "limits:throughput": [f"c.tput.{t}.{k}" for t, ks in (
        ("pipe", ("msg16.write_each", "msg16.rw_each", "msg16.batch4k", "bw64k")),
        ("unix_stream", ("msg16.write_each", "msg16.rw_each", "msg16.batch4k", "bw64k")),
        ("unix_seqpacket", ("msg16.write_each", "msg16.batch4k"))) for k in ks],
    "limits:shm_ring": ["c.shm_spsc_ring.2proc.msg16", "c.shm_spsc_ring.2proc.msg16.batch64",
                        "c.shm_spsc_ring.2thread.msg16"],
    "limits:pshared_cv": ["c.rtt.pshared_mutex_cv"],
    "limits:thread_queue": ["c.thread_mutex_cv_queue"],
    "limits:memcpy": ["c.memcpy.64MiB", "c.mem.page_fault_4k"],
    "limits_boost": ["boost.message_queue.2proc.msg16"],
    "limits_caf": ["caf.inproc.oneway", "caf.inproc.rtt", "caf.basp.socketpair.oneway",
                   "caf.basp.socketpair.rtt"],
    "python:spawn_join": ["py.spawn_join.fork", "py.spawn_join.forkserver", "py.spawn_join.spawn"],
    "python:pipe_rtt": ["py.pipe_rtt.int"],
    "python:pipe_throughput": [f"py.pipe_tput.{s}.{k}" for k in ("duplex", "simplex")
                               for s in ("small", "1MiB")],
    "python:queue_throughput": ["py.queue.Queue.1p1c", "py.queue.Queue.2p2c",
                                "py.queue.SimpleQueue.1p1c", "py.queue.SimpleQueue.2p2c",
                                "py.queue.JoinableQueue.1p1c_task_done"],
    "python:pool_map": ["py.pool.map_chunksize1", "py.pool.map_default_chunksize",
                        "py.pool.apply_async", "py.pool.apply_rtt", "py.ppe.submit",
                        "py.ppe.submit_rtt", "py.tpe.submit"],
    "python:manager": ["py.manager.dict_set", "py.manager.dict_get",
                       "py.manager.dict_set_get_latency", "py.manager.list_append"],
    "python:value_lock": ["py.value_lock.2proc", "py.value_lock.correct",
                          "py.value_lock.uncontended"],
    "python:threading": ["py.thread.queue_2threads", "py.thread.lock_uncontended"],
    "supervisor_restart": ["supervisord.restart", "s6.restart"],
}


class Pairs:
    """bench/peers.tsv: rows (kin, peer or None, better, note)."""

    def __init__(self, path):
        self.rows = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                cols = line.split("\t")
                if len(cols) < 3 or cols[2] not in ("higher", "lower"):
                    sys.exit(f"{path}:{n}: want 'kin<TAB>peer<TAB>higher|lower[<TAB>note]'")
                peer = None if cols[1] == "-" else cols[1]
                self.rows.append((cols[0], peer, cols[2], cols[3] if len(cols) > 3 else ""))

    def kin_names(self):
        return list(dict.fromkeys(r[0] for r in self.rows))

    def peers_of(self, kin):
        return [r[1] for r in self.rows if r[0] == kin and r[1]]

    def kins_of(self, peer):
        return [r[0] for r in self.rows if r[1] == peer]


class Selection:
    def __init__(self, regex, pairs):
        self.rx = re.compile(regex) if regex else None
        self.pairs = pairs

    def _match(self, name):
        return self.rx is None or bool(self.rx.search(name))

    def _kin_itself(self, name):
        return self._match(name) or any(self._match(p) for p in self.pairs.peers_of(name))

    def kin(self, name):
        # A kin figure can be another's peer (kin.supervisor.restart beside kin.spawn_join.fork):
        # selected with the figure it is the peer of.
        return self._kin_itself(name) or any(self._kin_itself(k) for k in self.pairs.kins_of(name))

    def peer(self, name):
        return self._match(name) or any(self.kin(k) for k in self.pairs.kins_of(name))

    def metric(self, name):
        return self.kin(name) if name.startswith("kin.") else self.peer(name)


def cmd_plan(args, pairs, sel):
    """Prints `kin-filter REGEX` (empty = everything) and one `peer CMD` line per needed run."""
    if sel.rx is None:
        print("kin-filter ")
    else:
        # kin's programs apply the filter themselves (std::regex, ECMAScript): add the kin
        # figures selected through their peers as exact names.
        kins = pairs.kin_names() + [p for r in pairs.rows if (p := r[1]) and p.startswith("kin.")]
        extra = [k for k in dict.fromkeys(kins) if sel.kin(k) and not sel._match(k)]
        alts = [f"(?:{args.bench})"] + ["^" + re.escape(k) + "$" for k in extra]
        print("kin-filter " + "|".join(alts))
    for cmd, metrics in PEER_COMMANDS.items():
        if any(sel.peer(m) for m in metrics):
            print("peer " + cmd)


def cmd_filter(args, pairs, sel):
    for line in sys.stdin:
        m = LINE.match(line.strip())
        if m and not sel.metric(m.group(1)):
            continue
        sys.stdout.write(line)
        sys.stdout.flush()


def read_logs(paths):
    values, units = {}, {}
    for path in paths:
        with open(path) as f:
            for line in f:
                m = LINE.match(line.strip())
                if m:
                    try:
                        v = float(m.group(2))
                    except ValueError:
                        continue
                    values.setdefault(m.group(1), []).append(v)
                    units[m.group(1)] = m.group(3)
    return {k: statistics.median(v) for k, v in values.items()}, units


TIME = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
BYTES = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}


def in_base_unit(value, unit):
    """(dimension, value in the dimension's base unit), or None when the unit is unknown.
    Every rate of things (msgs/s, items/s, ops/s, pairs/s, tasks/s) counts as one dimension."""
    if unit in TIME:
        return "time", value * TIME[unit]
    if unit in BYTES:
        return "bytes", value * BYTES[unit]
    if unit.endswith("/s"):
        head = unit[:-2]
        if head in BYTES:
            return "bytes/s", value * BYTES[head]
        return "count/s", value
    return None


def ratio(kin_v, kin_u, peer_v, peer_u, better):
    """'2.5x better' / '1.3x worse' (kin against the peer), or why there is no ratio."""
    if kin_u == peer_u:
        a, b = kin_v, peer_v
    else:
        ka, pa = in_base_unit(kin_v, kin_u), in_base_unit(peer_v, peer_u)
        if ka is None or pa is None or ka[0] != pa[0]:
            return f"(units {kin_u} vs {peer_u})"
        a, b = ka[1], pa[1]
    if a <= 0 or b <= 0:
        return "-"
    r = a / b if better == "higher" else b / a
    return f"{r:.3g}x better" if r >= 1 else f"{1 / r:.3g}x worse"


def fmt(v):
    """3 significant digits; thousands with separators, millions as 'M' (like summarize.py)."""
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g} M"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def cmd_table(args, pairs, sel):
    values, units = read_logs(args.logs)
    rows = [r for r in pairs.rows if sel.kin(r[0])]
    listed = set(pairs.kin_names())
    for k in values:
        if k.startswith("kin.") and k not in listed and sel.kin(k):
            unit = units[k]
            better = "lower" if unit in TIME or unit in BYTES else "higher"
            rows.append((k, None, better, ""))
    out = [("kin figure", "kin", "peer figure", "peer", "kin vs peer", "peer is")]
    last = None
    for kin, peer, better, note in rows:
        first = kin != last
        last = kin
        kv = f"{fmt(values[kin])} {units[kin]}" if kin in values else "—"
        if peer is None:
            pv, rt = "", ""
        elif peer in values:
            pv = f"{fmt(values[peer])} {units[peer]}"
            rt = ratio(values[kin], units[kin], values[peer], units[peer], better) \
                if kin in values else ""
        else:
            pv, rt = "—", ""
        arrow = "↑" if better == "higher" else "↓"
        out.append((f"{kin} {arrow}" if first else "", kv if first else "",
                    peer or "—", pv, rt, note))
    widths = [max(len(r[i]) for r in out) for i in range(len(out[0]))]
    print()
    print("kin vs peers (↑ higher is better, ↓ lower is better; — = no figure in this run)")
    for i, r in enumerate(out):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def cmd_check(args, pairs, sel):
    """The bench_util.hpp contract: at least one figure, every figure `metric=kin.<name>
    value=<number> unit=<unit>`; other lines must be comments ('#') or blank."""
    figures, bad = 0, []
    for line in sys.stdin:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        m = LINE.match(text)
        try:
            ok = m is not None and m.group(1).startswith("kin.") and math.isfinite(float(m.group(2)))
        except ValueError:
            ok = False
        if ok:
            figures += 1
        elif text.startswith("metric="):
            bad.append(text)
    for text in bad:
        print(f"compare.py check: malformed figure: {text}", file=sys.stderr)
    if figures == 0:
        print("compare.py check: no figure printed", file=sys.stderr)
    if bad or figures == 0:
        sys.exit(1)
    print(f"compare.py check: {figures} figures")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("plan", "filter", "table", "check"))
    ap.add_argument("logs", nargs="*")
    ap.add_argument("--bench", default="", help="regex selecting figures ('' = all)")
    ap.add_argument("--pairs", default=os.path.join(HERE, "peers.tsv"))
    args = ap.parse_args()
    pairs = Pairs(args.pairs)
    try:
        sel = Selection(args.bench, pairs)
    except re.error as e:
        sys.exit(f"compare.py: BENCH={args.bench!r} is not a valid regex: {e}")
    commands = {"plan": cmd_plan, "filter": cmd_filter, "table": cmd_table, "check": cmd_check}
    commands[args.command](args, pairs, sel)


if __name__ == "__main__":
    main()
