"""Runs of one grid side by side: each proved point's proving seconds (the sum of its segments'
proofs) and peak memory (the proof's own where the run recorded it apart from setup's, else
the process's) in every run, and each run's seconds over the point's median across the runs:
the run-to-run spread of the machine.

    python benchmarks/compare_runs.py DIR DIR [DIR ...]

Each DIR is a folder of `snarkgpt bench scaling --prove --resume DIR` (DIR/points/*.json).
Prints a markdown table and a summary line; exit 2 on a folder without records.
"""
from __future__ import annotations

import os
import statistics
import sys

from snarkgpt.bench.cost_model import CostModelError, load_records


def compare(dirs: list) -> list:
    """Markdown lines: one row per point proved in every run, then the spread."""
    runs = [{r["id"]: r["measured"] for r in load_records(d)} for d in dirs]
    names = [os.path.basename(os.path.normpath(d)) for d in dirs]
    common = [pid for pid in runs[0] if all(pid in run for run in runs[1:])]
    common.sort(key=lambda pid: (runs[0][pid]["k"], runs[0][pid]["segments"], pid))
    head = (["point", "k", "segments"] + [f"segments' s, {n}" for n in names]
            + [f"{n} / median" for n in names] + [f"peak GiB, {n}" for n in names])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {n: [] for n in names}
    for pid in common:
        total = [run[pid]["prove"] * run[pid]["segments"] for run in runs]
        med = statistics.median(total)
        row = [pid, str(runs[0][pid]["k"]), str(runs[0][pid]["segments"])]
        row += [f"{t:.1f}" for t in total]
        for n, t in zip(names, total):
            ratios[n].append(t / med)
            row.append(f"{t / med:.2f}")
        row += [f"{run[pid]['memory']:.2f}" for run in runs]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for n in names:
        r = ratios[n]
        lines.append(f"{n}: seconds / the point's median {min(r):.2f}-{max(r):.2f} "
                     f"(median {statistics.median(r):.2f}) over {len(r)} points")
    own = [[run[pid]["memory"] for run in runs if run[pid]["memory_phase"] == "prove"]
           for pid in common]
    spread = [max(m) - min(m) for m in own if len(m) > 1]
    if spread:
        lines.append(f"the proof's own peak memory, where several runs measured it: at most "
                     f"{max(spread):.2f} GiB apart on a point")
    return lines


def main(argv) -> int:
    if len(argv) < 2:
        print("usage: python benchmarks/compare_runs.py DIR DIR [DIR ...]", file=sys.stderr)
        return 2
    try:
        lines = compare(argv)
    except CostModelError as e:
        print(f"compare_runs: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
