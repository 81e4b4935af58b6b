#!/usr/bin/env bash
# Issue 16's quality check per weight format: the same held-out problems (arithmetic seed 2002,
# 50 problems; CoinFlip seed 3003, 20 problems; x 16 candidates, the tasks' own instructions)
# collected from the default model in each weight format, then evaluated with the heads trained
# on the original (Q4_1) file: pass@1, majority, log-prob and oracle need no head; the swift
# columns show whether a head trained on Q4_1 states still ranks another format's candidates
# (eval warns about the fingerprint and goes on, as `ask --head` does).
# Usage: scripts/weights-quality.sh   (data/ is not in git; collections resume if interrupted)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
Q41_ARITH=${Q41_ARITH:-models/smollm2-135m-arith}
Q41_COIN=${Q41_COIN:-models/smollm2-135m-coinflip}
for W in original q8_0 q4_0; do
  C=(-n 16 --max-tokens 192 --layers all --entropy --weights "$W")
  $B collect --task arithmetic --count 50 --seed 2002 "${C[@]}" --out "data/fmt/arith-test-$W"
  $B collect --task coinflip --count 20 --seed 3003 "${C[@]}" --out "data/fmt/coin-test-$W"
done
for W in original q8_0 q4_0; do
  echo "== $W: arithmetic"
  $B eval --data "data/fmt/arith-test-$W" --head "$Q41_ARITH" --k 1,8
  echo "== $W: CoinFlip"
  $B eval --data "data/fmt/coin-test-$W" --head "$Q41_COIN" --k 1,8
done
