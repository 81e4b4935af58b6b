#!/usr/bin/env python3
"""Training problems in varied phrasings, as JSONL ({"question", "answer"}) for
`swift-bon collect --task jsonl`: the built-in generators ask one way ("What is 47 + 8?",
"A coin is heads up. Ka flips the coin. ..."), so a head trained on them alone sees one surface
form per family. These ask the same two families many other ways, so that the general head
learns from candidates to questions of several shapes.

Written apart from scripts/heldout-problems.py: no sentence form, name or verb phrase of the
held-out sets is used here, so the "other phrasings" held-out sets stay unseen. Deterministic in
--seed.

    scripts/train-phrasings.py --family arithmetic --seed 1004 --count 150 > data/q8/phr-arith.jsonl
    scripts/train-phrasings.py --family coinflip --seed 1005 --count 60 > data/q8/phr-coin.jsonl

Answer types: arithmetic is a number, coinflip is yes-no.
"""
import argparse
import json
import random

NAMES = ["Wren", "Yusuf", "Zofia", "Anouk", "Basil", "Cyra", "Desmond", "Elif", "Florin", "Greta",
         "Hamid", "Ines", "Joaquin", "Kalani", "Leif", "Mireille", "Nnamdi", "Oona", "Pavel", "Rhea"]


def arithmetic(r):
    a, b = r.randint(1, 99), r.randint(1, 99)
    if r.random() < 0.5:
        forms = [f"Find {a} + {b}.", f"How much is {a} and {b} together?",
                 f"If you add {b} to {a}, what number results?", f"{a} + {b} = ?",
                 f"Work out {a} + {b}.", f"What number is {b} more than {a}?",
                 f"Evaluate {a} + {b}.", f"Put {a} and {b} together. How many is that?"]
        return r.choice(forms), a + b
    a, b = max(a, b), min(a, b)
    forms = [f"Find {a} - {b}.", f"What number is {b} less than {a}?",
             f"Work out {a} - {b}.", f"{a} - {b} = ?", f"Evaluate {a} - {b}.",
             f"What remains when {b} is deducted from {a}?",
             f"Start at {a} and count back {b}. Where do you end?",
             f"How much bigger is {a} than {b}?"]
    return r.choice(forms), a - b


def coinflip(r):
    k = r.randint(2, 4)
    names = r.sample(NAMES, k)
    start_heads = r.random() < 0.5
    side = "heads" if start_heads else "tails"
    parts = [r.choice([f"The coin starts {side} up.", f"We begin with a coin that shows {side}.",
                       f"A coin is placed {side} side up."])]
    turned = 0
    for n in names:
        if r.random() < 0.5:
            turned += 1
            parts.append(r.choice([f"{n} tosses it over.", f"{n} gives the coin a flip.",
                                   f"Next, {n} turns the coin upside down."]))
        else:
            parts.append(r.choice([f"{n} passes without flipping.", f"{n} keeps it as it is.",
                                   f"{n} chooses not to flip the coin."]))
    heads_now = start_heads != (turned % 2 == 1)
    parts.append(r.choice(["Is it heads up now?", "Does the coin show heads at the end?",
                           "Is heads facing up in the end?"]))
    return " ".join(parts), "yes" if heads_now else "no"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["arithmetic", "coinflip"], required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=100)
    args = ap.parse_args()
    r = random.Random(args.seed)
    make = {"arithmetic": arithmetic, "coinflip": coinflip}[args.family]
    for _ in range(args.count):
        q, ans = make(r)
        print(json.dumps({"question": q, "answer": str(ans)}))


if __name__ == "__main__":
    main()
