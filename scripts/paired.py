#!/usr/bin/env python3
"""Paired comparison of two collections of the same problems (e.g. one model in two weight
formats): per-problem pass@1 (mean correctness) and answered rate, the mean paired difference and
its standard error over problems. Usage: scripts/paired.py DIR_A DIR_B"""
import json
import math
import sys
from collections import defaultdict


def load(path):
    by = defaultdict(list)
    with open(f"{path}/candidates.jsonl") as f:
        for line in f:
            r = json.loads(line)
            by[r["problem_index"]].append(r)
    return by


def stats(a, b, key):
    common = sorted(set(a) & set(b))
    d = [sum(key(r) for r in b[p]) / len(b[p]) - sum(key(r) for r in a[p]) / len(a[p]) for p in common]
    m = sum(d) / len(d)
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
    mean = lambda c: sum(sum(key(r) for r in c[p]) / len(c[p]) for p in common) / len(common)
    return len(common), mean(a), mean(b), m, se


a, b = load(sys.argv[1]), load(sys.argv[2])
for name, key in [("pass@1", lambda r: float(r["correct"])),
                  ("answered", lambda r: float(r.get("answer") is not None))]:
    n, ma, mb, m, se = stats(a, b, key)
    print(f"{name:9s} {n} problems: A {ma:.3f}  B {mb:.3f}  B-A {m:+.3f} ± {se:.3f} (se)")
