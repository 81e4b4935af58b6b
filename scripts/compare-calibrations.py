#!/usr/bin/env python3
"""Paired comparison of two heads trained on the same problems, on their out-of-fold scores
(`swift-bon train ... --folds K --calibration-json FILE`, once per head).

For each part of the grid files (overall, and each answer kind), it prints the expected Best-of-k
accuracy of both heads at their own chosen point (what `auto` uses), at majority vote and at the
head alone (the largest head sharpness, no log-prob), with the mean paired difference B - A and
its standard error over problems.

The two files must list the same problems in the same order. Majority vote does not depend on the
head, so it is checked to agree problem by problem. With --first N, only the first N problems of
each part are compared (for B trained on more problems appended after A's).

Usage: scripts/compare-calibrations.py A.json B.json [--first N] [--part number]
"""
import argparse
import json
import math
import sys


def mean_se(d):
    n = len(d)
    m = sum(d) / n
    if n < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1) / n)


def index_of(fit, beta, logprob):
    for i, p in enumerate(fit["grid"]):
        if p["beta"] == beta and p["logprob"] == logprob:
            return i
    raise SystemExit(f"grid point beta={beta}, logprob={logprob} not in the file")


def column(fit, i, first):
    rows = fit["per_problem"]
    if first is not None:
        rows = rows[:first]
    return [r[i] for r in rows]


def compare(name, a, b, first):
    head_alone = max(p["beta"] for p in a["grid"])
    points = [
        ("auto (each head's chosen point)", None),
        ("majority vote", (0.0, 0.0)),
        (f"head alone (beta {head_alone:g})", (head_alone, 0.0)),
    ]
    print(f"== {name}")
    for label, point in points:
        cols = []
        for fit in (a, b):
            if point is None:
                c = fit["chosen"]
                i = index_of(fit, c["beta"], c.get("logprob", 0.0))
            else:
                i = index_of(fit, *point)
            cols.append(column(fit, i, first))
        if len(cols[0]) != len(cols[1]):
            raise SystemExit(
                f"{name}: {len(cols[0])} problems in A but {len(cols[1])} in B (use --first)"
            )
        if point == (0.0, 0.0) and any(abs(x - y) > 1e-12 for x, y in zip(*cols)):
            raise SystemExit(f"{name}: majority vote differs: the problems are not aligned")
        d = [y - x for x, y in zip(*cols)]
        m, se = mean_se(d)
        extra = ""
        if point is None:
            ca, cb = a["chosen"], b["chosen"]
            extra = (
                f"  (A at beta {ca['beta']:g}, gamma {ca.get('logprob', 0.0):g};"
                f" B at beta {cb['beta']:g}, gamma {cb.get('logprob', 0.0):g})"
            )
        print(
            f"{label:<34} A {sum(cols[0]) / len(d):.4f}  B {sum(cols[1]) / len(d):.4f}"
            f"  B - A {m:+.4f} ± {se:.4f}  ({len(d)} problems){extra}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--first", type=int)
    ap.add_argument("--part", action="append", help="overall or an answer kind (repeatable)")
    args = ap.parse_args()
    a, b = (json.load(open(p)) for p in (args.a, args.b))
    parts = {}
    for name in ["overall"] + sorted(set(a["by_kind"]) | set(b["by_kind"])):
        fa = a["overall"] if name == "overall" else a["by_kind"].get(name)
        fb = b["overall"] if name == "overall" else b["by_kind"].get(name)
        if fa and fb:
            parts[name] = (fa, fb)
    wanted = args.part or list(parts)
    for name in wanted:
        if name not in parts:
            sys.exit(f"{name}: not in both files (have: {', '.join(parts)})")
        compare(name, *parts[name], args.first)


if __name__ == "__main__":
    main()
