#!/usr/bin/env python3
"""Replays the soft vote's choosing rule on a calibration grid (`swift-bon train ... --folds K
--calibration-json FILE`), to check on the training problems alone which rule generalises.

Each repetition splits the validation problems in two random halves; a rule chooses a grid point
on one half and is scored on the other (expected Best-of-k accuracy), and the other way round.
Rules: majority vote; the best point; the one-standard-error rule in its textbook form (within
one standard error of the best point's own mean) and in the paired form `train` uses (within one
standard error of the per-problem difference to the best); each on the head's axis alone (1D)
and on the whole grid (2D). Ties and "fewest steps" follow src/eval/calibrate.rs.

Usage: scripts/rule-check.py FILE.json [--splits 300] [--seed 0]
"""
import argparse
import json
import math
import random


def mean(x):
    return sum(x) / len(x)


def se(x):
    n = len(x)
    if n < 2:
        return float("nan")
    m = mean(x)
    return math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1) / n)


def choose(rule, rows, points, steps):
    acc = {g: mean([r[g] for r in rows]) for g in points}
    top = max(acc.values())
    best = min(g for g in points if acc[g] >= top - 1e-9)
    if rule == "majority":
        return points[0]
    if rule == "best":
        return best
    if rule == "textbook":
        s = se([r[best] for r in rows])
        ok = [g for g in points if math.isnan(s) and g == best or acc[g] >= acc[best] - s - 1e-12]
    else:  # paired
        ok = []
        for g in points:
            s = se([r[best] - r[g] for r in rows])
            if g == best or (not math.isnan(s) and acc[best] - acc[g] <= s + 1e-12):
                ok.append(g)
    return min(ok, key=lambda g: (steps[g], -acc[g], g))


def check(name, part, splits, seed):
    grid = part["grid"]
    betas = sorted({p["beta"] for p in grid})
    gammas = sorted({p["logprob"] for p in grid})
    steps = [betas.index(p["beta"]) + gammas.index(p["logprob"]) for p in grid]
    rows = part["per_problem"]
    one_d = [g for g, p in enumerate(grid) if p["logprob"] == 0.0]
    two_d = list(range(len(grid)))
    rules = [("majority", "2D", two_d)]
    for r in ("textbook", "paired", "best"):
        rules += [(r, "1D", one_d), (r, "2D", two_d)]
    rng = random.Random(seed)
    scores = {(r, d): [] for r, d, _ in rules}
    n = len(rows)
    for _ in range(splits):
        order = list(range(n))
        rng.shuffle(order)
        a = [rows[i] for i in order[: n // 2]]
        b = [rows[i] for i in order[n // 2:]]
        for fit, score in ((a, b), (b, a)):
            for r, d, pts in rules:
                g = choose(r, fit, pts, steps)
                scores[(r, d)].append(mean([x[g] for x in score]))
    print(f"{name}: {n} problems, {splits} random halvings (choose on one half, score on the other)")
    print("| rule | axes | other half's Best-of-k | on every problem it picks (beta, logprob) |")
    print("| --- | --- | ---: | --- |")
    for r, d, pts in rules:
        g = choose(r, rows, pts, steps)
        print(f"| {r} | {d} | {mean(scores[(r, d)]):.4f} | ({grid[g]['beta']}, {grid[g]['logprob']}) |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--splits", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = json.load(open(args.file))
    if data.get("overall"):
        check("overall", data["overall"], args.splits, args.seed)
    for kind, part in sorted(data.get("by_kind", {}).items()):
        check(kind, part, args.splits, args.seed)


if __name__ == "__main__":
    main()
