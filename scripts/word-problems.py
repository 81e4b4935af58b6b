#!/usr/bin/env python3
"""Writes generated word problems (one- and two-step addition and subtraction with small
numbers) as JSONL ({"question", "answer"}) for `swift-bon collect --task jsonl`.

A family no shipped head was trained on: it measures whether selection and pruning carry over
from bare arithmetic. Deterministic in --seed. Usage:
    scripts/word-problems.py --seed 7007 --count 60 > data/words.jsonl
"""
import argparse
import json
import random

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jade", "Kofi", "Lena",
         "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tess"]
THINGS = ["apples", "marbles", "stickers", "pencils", "books", "shells", "coins", "cookies", "stamps",
          "cards", "balloons", "beads"]


def one_step(r):
    a, b = r.randint(3, 60), r.randint(2, 40)
    n, t = r.choice(NAMES), r.choice(THINGS)
    if r.random() < 0.5:
        forms = [
            f"{n} has {a} {t}. A friend gives {n} {b} more. How many {t} does {n} have now?",
            f"There are {a} {t} in a box and {b} more are put in. How many {t} are in the box?",
            f"{n} collected {a} {t} on Monday and {b} on Tuesday. How many {t} did {n} collect in all?",
        ]
        return r.choice(forms), a + b
    a, b = max(a, b) + 1, min(a, b)
    forms = [
        f"{n} had {a} {t} and gave away {b}. How many {t} does {n} have left?",
        f"A jar holds {a} {t}. {n} takes out {b}. How many {t} remain in the jar?",
        f"{n} bought {a} {t} and lost {b} of them. How many {t} are left?",
    ]
    return r.choice(forms), a - b


def two_step(r):
    a, b, c = r.randint(5, 40), r.randint(2, 30), r.randint(1, 20)
    n, m, t = r.choice(NAMES), r.choice(NAMES), r.choice(THINGS)
    if m == n:
        m = "a neighbour"
    if c > a + b:
        c = (a + b) // 2
    forms = [
        (f"{n} starts with {a} {t}, gets {b} more from {m}, then gives {c} to a friend. "
         f"How many {t} does {n} have now?"),
        (f"A shelf has {a} {t}. {n} adds {b}, and later {m} removes {c}. "
         f"How many {t} are on the shelf?"),
    ]
    return r.choice(forms), a + b - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=60)
    args = ap.parse_args()
    r = random.Random(args.seed)
    for _ in range(args.count):
        q, ans = (two_step if r.random() < 0.4 else one_step)(r)
        print(json.dumps({"question": q, "answer": str(ans)}))


if __name__ == "__main__":
    main()
