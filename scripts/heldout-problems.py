#!/usr/bin/env python3
"""Held-out problems phrased differently from every training generator, as JSONL
({"question", "answer"}) for `swift-bon collect --task jsonl`.

The training sets come from the built-in generators (arithmetic: "What is 47 + 8?", CoinFlip:
"A coin is heads up. Ka flips the coin. ...") and from scripts/word-problems.py. A head that
only learned those surface forms would look good on held-out problems drawn from the same
generators with another seed; these are written another way (other verbs, word order, names,
objects and sentence shapes) to catch that. Deterministic in --seed.

    scripts/heldout-problems.py --family arithmetic --seed 8008 --count 50 > data/arith-alt.jsonl
    scripts/heldout-problems.py --family coinflip --seed 8009 --count 40 > data/coin-alt.jsonl
    scripts/heldout-problems.py --family words --seed 8010 --count 40 > data/words-alt.jsonl

Answer types: arithmetic and words are numbers, coinflip is yes-no.
"""
import argparse
import json
import random

PEOPLE = ["Astrid", "Bilal", "Carmen", "Dmitri", "Esi", "Farid", "Gwen", "Hiro", "Isla", "Jun",
          "Keanu", "Lucia", "Marek", "Nalani", "Otto", "Paz", "Rafa", "Saoirse", "Tomas", "Uma"]
ITEMS = ["oranges", "crayons", "buttons", "tickets", "bottles", "plates", "stones", "ribbons",
         "candles", "envelopes", "toy cars", "seashells"]


def arithmetic(r):
    a, b = r.randint(1, 99), r.randint(1, 99)
    if r.random() < 0.5:
        forms = [f"Calculate {a} plus {b}.", f"Add {a} and {b}. What do you get?",
                 f"What is the sum of {a} and {b}?", f"Compute {a} + {b}."]
        return r.choice(forms), a + b
    a, b = max(a, b), min(a, b)
    forms = [f"Subtract {b} from {a}.", f"What is {a} minus {b}?",
             f"Compute the difference {a} - {b}.", f"Take {b} away from {a}. What is left?"]
    return r.choice(forms), a - b


def coinflip(r):
    k = r.randint(2, 4)
    names = r.sample(PEOPLE, k)
    start_heads = r.random() < 0.5
    side = "heads" if start_heads else "tails"
    parts = [f"A coin lies on the table showing {side}."]
    turned = 0
    for n in names:
        if r.random() < 0.5:
            turned += 1
            parts.append(r.choice([f"{n} turns it over.", f"Then {n} reverses the coin.",
                                   f"{n} flips it."]))
        else:
            parts.append(r.choice([f"{n} leaves it alone.", f"{n} does not touch it.",
                                   f"{n} looks at it but does not flip it."]))
    heads_now = start_heads != (turned % 2 == 1)
    parts.append("After all that, is the coin showing heads?")
    return " ".join(parts), "yes" if heads_now else "no"


def words(r):
    n, m, t = r.choice(PEOPLE), r.choice(PEOPLE), r.choice(ITEMS)
    if m == n:
        m = "their cousin"
    kind = r.random()
    if kind < 0.3:
        a, b = r.randint(4, 70), r.randint(2, 30)
        return (f"On a shelf there were {a} {t}. {n} placed {b} more {t} on it. "
                f"What is the number of {t} on the shelf now?"), a + b
    if kind < 0.6:
        a = r.randint(10, 80)
        b = r.randint(1, a - 1)
        return (f"{n} owned {a} {t} until {b} of them were sold at a fair. "
                f"How many {t} does {n} still own?"), a - b
    a, b = r.randint(5, 40), r.randint(2, 25)
    c = r.randint(1, a + b - 1)
    return (f"{m} handed {n} {b} {t}, and {n} already had {a}. Later {n} used {c} of them. "
            f"How many {t} remain with {n}?"), a + b - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["arithmetic", "coinflip", "words"], required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=40)
    args = ap.parse_args()
    r = random.Random(args.seed)
    make = {"arithmetic": arithmetic, "coinflip": coinflip, "words": words}[args.family]
    for _ in range(args.count):
        q, ans = make(r)
        print(json.dumps({"question": q, "answer": str(ans)}))


if __name__ == "__main__":
    main()
