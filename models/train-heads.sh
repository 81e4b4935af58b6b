#!/usr/bin/env bash
# Reproduces the heads in models/ (and the Gemma-3 head of the README) with the project's own commands:
#   smollm2-arith     models/smollm2-135m-arith     (the default head; default model)
#   smollm2-coinflip  models/smollm2-135m-coinflip  (ask --task coinflip)
#   gemma3-arith      runs/heads/gemma3-270m-arith  (NOT shipped: on held-out problems it picks worse
#                                                   than random; see README, "Results")
# Each collects generated training problems x 16 candidates with every state (resumable if
# interrupted; data/ is not in git), then trains a gated head on all states with RMS
# normalisation, the choice made on the default model's validation split (README, "Results").
# Training problems use seeds 1001/1002; the held-out sets in the README use 2002 and 3003.
# Usage: models/train-heads.sh [smollm2-arith|smollm2-coinflip|gemma3-arith|all]  (default: all)
# WEIGHTS=q8_0 (or q4_0) does the same on the model converted to that weight format (issue 16):
# data in data/*-q8_0, heads in runs/heads/*-q8_0 (copy them into models/ to ship them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
W=${WEIGHTS:-original}
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy --weights "$W")
TRAIN=(--layers all --norm rms --seed 42)
S=""; H=models
if [ "$W" != original ]; then S="-$W"; H=runs/heads; mkdir -p runs/heads; fi

smollm2_arith() { # ~30 min, 7 GB
  $B collect --task arithmetic --count 200 --seed 1001 "${COLLECT[@]}" --out data/arith-train$S
  $B train --data data/arith-train$S --out $H/smollm2-135m-arith$S "${TRAIN[@]}" \
    --notes "default head: arithmetic (two 1-2 digit numbers, + and -), 200 problems x 16 candidates, seed 1001"
}
smollm2_coinflip() { # ~20 min, 6 GB
  $B collect --task coinflip --count 200 --seed 1002 "${COLLECT[@]}" --out data/coin-train$S
  $B train --data data/coin-train$S --out $H/smollm2-135m-coinflip$S "${TRAIN[@]}" \
    --notes "coinflip head: CoinFlip with 2-4 people, 200 problems x 16 candidates, seed 1002"
}
gemma3_arith() { # ~10 min; a base model, so the completion format with worked examples
  $B collect -m gemma3-270m --task arithmetic --count 200 --seed 1001 "${COLLECT[@]}" --out data/gemma-arith-train$S
  $B train --data data/gemma-arith-train$S --out runs/heads/gemma3-270m-arith$S "${TRAIN[@]}" \
    --notes "gemma3 head: arithmetic (two 1-2 digit numbers, + and -), completion format, 200 problems x 16 candidates, seed 1001"
}

case "${1:-all}" in
  smollm2-arith) smollm2_arith ;;
  smollm2-coinflip) smollm2_coinflip ;;
  gemma3-arith) gemma3_arith ;;
  all) smollm2_arith; smollm2_coinflip; gemma3_arith ;;
  *) echo "usage: $0 [smollm2-arith|smollm2-coinflip|gemma3-arith|all]" >&2; exit 2 ;;
esac
