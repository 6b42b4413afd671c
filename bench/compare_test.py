#!/usr/bin/env python3
"""Tests of bench/compare.py (run by ctest as bench.compare_test): figure selection, the peer
sub-benchmarks a selection needs, ratios across units, the table, and the kin-program check."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402

PAIRS = """# comment
kin.spawn_join.fork\tpy.spawn_join.fork\tlower\tPython fork
kin.spawn_join.fork\tc.spawn.fork_exit_wait\tlower\tfloor
kin.pipe_rtt\tc.rtt.pipe.8B\tlower\tfloor
kin.queue.1p1c\tpy.queue.Queue.1p1c\thigher\tPython
kin.child_rss\t-\tlower\tno peer
"""


def run(args, stdin=""):
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        f.write(PAIRS)
    try:
        return subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), *args,
                               "--pairs", f.name], input=stdin, capture_output=True, text=True)
    finally:
        os.unlink(f.name)


class Selection(unittest.TestCase):
    def setUp(self):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write(PAIRS)
        self.addCleanup(os.unlink, f.name)
        self.pairs = compare.Pairs(f.name)

    def test_empty_regex_selects_everything(self):
        sel = compare.Selection("", self.pairs)
        self.assertTrue(sel.metric("kin.anything") and sel.metric("py.anything"))

    def test_peer_of_a_selected_kin_figure_is_selected(self):
        sel = compare.Selection("pipe_rtt", self.pairs)
        self.assertTrue(sel.metric("kin.pipe_rtt"))
        self.assertTrue(sel.metric("c.rtt.pipe.8B"))  # its name does not match
        self.assertFalse(sel.metric("c.rtt.pipe.1B"))
        self.assertFalse(sel.metric("kin.queue.1p1c"))

    def test_kin_figure_of_a_selected_peer_is_selected(self):
        sel = compare.Selection("fork_exit_wait", self.pairs)
        self.assertTrue(sel.metric("kin.spawn_join.fork"))
        self.assertTrue(sel.metric("py.spawn_join.fork"))  # peer of the selected kin figure

    def test_bad_pairs_line_is_an_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write("kin.x\tpy.x\tfaster\n")
        self.addCleanup(os.unlink, f.name)
        with self.assertRaises(SystemExit):
            compare.Pairs(f.name)


class Plan(unittest.TestCase):
    def test_spawn_runs_only_the_spawn_peers(self):
        out = run(["plan", "--bench", "spawn"]).stdout.splitlines()
        self.assertEqual(out, ["kin-filter (?:spawn)", "peer limits:spawn", "peer python:spawn_join"])

    def test_kin_filter_names_kin_figures_selected_through_peers(self):
        out = run(["plan", "--bench", "c.rtt.pipe.8B"]).stdout.splitlines()
        self.assertEqual(out[0], r"kin-filter (?:c.rtt.pipe.8B)|^kin\.pipe_rtt$")
        self.assertIn("peer limits:pingpong", out)

    def test_no_regex_runs_every_peer(self):
        out = run(["plan"]).stdout.splitlines()
        self.assertEqual(out[0], "kin-filter ")
        self.assertEqual(len(out) - 1, len(compare.PEER_COMMANDS))

    def test_invalid_regex_is_reported(self):
        r = run(["plan", "--bench", "("])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not a valid regex", r.stderr)

    def test_every_peer_figure_has_a_command(self):
        peers = {m for ms in compare.PEER_COMMANDS.values() for m in ms}
        pairs = compare.Pairs(os.path.join(HERE, "peers.tsv"))
        for kin, peer, _, _ in pairs.rows:
            self.assertTrue(kin.startswith("kin."), kin)
            if peer and peer.startswith("kin."):  # another kin figure: listed as one
                self.assertIn(peer, pairs.kin_names(), f"{peer} (bench/peers.tsv) is no kin figure")
            elif peer:
                self.assertIn(peer, peers, f"{peer} (bench/peers.tsv) is printed by no peer command")

    def test_a_kin_peer_runs_with_the_figure_it_is_the_peer_of(self):
        def real(args, stdin=""):
            return subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), *args, "--pairs",
                                   os.path.join(HERE, "peers.tsv")], input=stdin, capture_output=True, text=True)
        out = real(["plan", "--bench", "supervisor.restart$"]).stdout
        self.assertIn("kin\\.spawn_join\\.fork", out.splitlines()[0])
        r = real(["filter", "--bench", "supervisor.restart$"],
                 "metric=kin.spawn_join.fork value=1 unit=us\nmetric=kin.spawn_join.spawn value=2 unit=us\n")
        self.assertIn("kin.spawn_join.fork", r.stdout)
        self.assertNotIn("kin.spawn_join.spawn", r.stdout)


class Filter(unittest.TestCase):
    def test_drops_unselected_figures_keeps_comments(self):
        stdin = ("metric=c.rtt.pipe.1B value=1 unit=us\nmetric=c.rtt.pipe.8B value=2 unit=us\n"
                 "# pingpong took 1 s\n")
        out = run(["filter", "--bench", "pipe_rtt"], stdin).stdout
        self.assertEqual(out, "metric=c.rtt.pipe.8B value=2 unit=us\n# pingpong took 1 s\n")


class Ratio(unittest.TestCase):
    def test_lower_is_better(self):
        self.assertEqual(compare.ratio(10, "us", 20, "us", "lower"), "2x better")
        self.assertEqual(compare.ratio(40, "us", 20, "us", "lower"), "2x worse")

    def test_higher_is_better_across_count_units(self):
        self.assertEqual(compare.ratio(3e6, "msgs/s", 1e6, "items/s", "higher"), "3x better")

    def test_converts_time_and_bandwidth_units(self):
        self.assertEqual(compare.ratio(500, "ns", 1, "us", "lower"), "2x better")
        self.assertEqual(compare.ratio(500, "MB/s", 1, "GB/s", "higher"), "2x worse")

    def test_incompatible_units_give_no_ratio(self):
        self.assertIn("units", compare.ratio(1, "us", 1, "GB/s", "lower"))


class Table(unittest.TestCase):
    def table(self, log, bench=""):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write(log)
        self.addCleanup(os.unlink, f.name)
        return run(["table", f.name, "--bench", bench]).stdout

    def test_pairs_rows_missing_kin_figures_and_unlisted_kin_figures(self):
        out = self.table("metric=kin.spawn_join.fork value=500 unit=us\n"
                         "metric=py.spawn_join.fork value=1000 unit=us\n"
                         "metric=kin.codec.encode value=2e6 unit=msgs/s\n")
        lines = out.splitlines()
        fork = next(l for l in lines if l.startswith("kin.spawn_join.fork"))
        self.assertIn("500 us", fork)
        self.assertIn("2x better", fork)
        self.assertTrue(any("c.spawn.fork_exit_wait" in l and "—" in l for l in lines))
        rtt = next(l for l in lines if l.startswith("kin.pipe_rtt"))
        self.assertIn("—", rtt)  # no kin figure yet
        self.assertTrue(any(l.startswith("kin.codec.encode") and "2 M msgs/s" in l for l in lines))

    def test_selection_limits_rows(self):
        out = self.table("metric=kin.pipe_rtt value=5 unit=us\n", bench="pipe_rtt")
        self.assertIn("kin.pipe_rtt", out)
        self.assertNotIn("kin.spawn_join.fork", out)


class Check(unittest.TestCase):
    def test_accepts_kin_figures_and_comments(self):
        r = run(["check"], "# start\nmetric=kin.a value=1.5e3 unit=us\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_rejects_no_figures_malformed_and_foreign_figures(self):
        for text in ("", "# only a comment\n", "metric=kin.a value=nan unit=us\n",
                     "metric=kin.a value=x unit=us\n", "metric=kin.a value=inf unit=us\n",
                     "metric=py.a value=1 unit=us\n"):
            self.assertNotEqual(run(["check"], text).returncode, 0, text)


if __name__ == "__main__":
    unittest.main()
