#!/usr/bin/env bash
# Gemma-3-270M (a base model: the completion format with worked examples that reason in steps,
# run as Q8_0): does a head trained on its candidates' states pick better answers than majority
# vote and log-probability on held-out arithmetic? (issue 14, items 2 and 5)
#   train  arithmetic seed 1001, 100 problems x 16 candidates
#   test   arithmetic seed 2002, 60 problems x 16 candidates (never used for a choice)
# Usage: scripts/gemma.sh [collect|train|eval|all]  (default: all). data/ and runs/ are not in git.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
C=(-m gemma3-270m -n 16 --max-tokens 192 --layers all --entropy)
D=data/gemma
H=runs/heads/gemma3-270m-arith
K=(--k 1,2,4,8,16)

collect() { # about 25 minutes on 2 cores
  mkdir -p $D
  $B collect --task '{"task":"arithmetic","count":100,"seed":1001}' "${C[@]}" --out $D/arith-train
  $B collect --task '{"task":"arithmetic","count":60,"seed":2002}' "${C[@]}" --out $D/arith-test
}
train() {
  mkdir -p runs/heads
  $B train --data $D/arith-train --out $H --layers all --norm rms --loss pairwise --folds 5 --seed 42 \
    --notes "gemma3 head: arithmetic (two 1-2 digit numbers, + and -), completion format with reasoning examples, 100 problems x 16 candidates, seed 1001"
}
evaluate() {
  $B eval --data $D/arith-test --head $H "${K[@]}"
}
case "${1:-all}" in
  collect) collect ;;
  train) train ;;
  eval) evaluate ;;
  all) collect; train; evaluate ;;
  *) echo "usage: $0 [collect|train|eval|all]" >&2; exit 2 ;;
esac
