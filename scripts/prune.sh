#!/usr/bin/env bash
# The README's early-pruning results: the policy sweep on a tuning collection (arithmetic, seed
# 4004, never used for the held-out tables) and the chosen default replayed on held-out
# collections: arithmetic (seed 2002), CoinFlip (seed 3003), and generated word problems (seed
# 7007, scripts/word-problems.py; no head was trained on them). data/ is not in git.
# Usage: scripts/prune.sh [sweep|heldout|all]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
# Measured on the published Q4_1 file with the per-family heads of that time: run
# scripts/heldout-q4_1.sh smollm2 first (it trains them into runs/heads-q4_1).
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy --weights original)
ARITH='Solve the arithmetic problem. End your reply with \"The answer is\" followed by the number.'
DEFAULT=deepconf:0.5,warmup=16,every=16,min=2
K=(--k 1,2,4,8,16 --prune-draws 200)

sweep() {
  $B collect --task arithmetic --count 30 --seed 4004 "${COLLECT[@]}" --out data/arith-tune
  P=()
  for w in 16 32; do
    for r in top:0.5 top:0.75 margin:1 margin:2 margin:4 deepconf:0.25 deepconf:0.5 halve:0.5; do
      P+=(--prune "$r,warmup=$w,every=16,min=2")
    done
  done
  $B eval --data data/arith-tune --head runs/heads-q4_1/smollm2-135m-arith "${P[@]}" --prune-draws 100 "${K[@]:0:2}"
}
heldout() {
  mkdir -p data
  python3 scripts/word-problems.py --seed 7007 --count 40 > data/words-test.jsonl
  $B collect --task arithmetic --count 50 --seed 2002 "${COLLECT[@]}" --out data/arith-test
  $B collect --task coinflip --count 20 --seed 3003 "${COLLECT[@]}" --out data/coin-test
  $B collect --task "{\"task\":\"jsonl\",\"path\":\"data/words-test.jsonl\",\"answer\":\"number\",\"instruction\":\"$ARITH\"}" \
    "${COLLECT[@]}" --out data/words-test
  $B eval --data data/arith-test --head runs/heads-q4_1/smollm2-135m-arith --prune "$DEFAULT" --prune top:0.5,warmup=16,every=16,min=2 \
    "${K[@]}" --prune-plot models/prune-smollm2-arith.svg
  $B eval --data data/coin-test --head runs/heads-q4_1/smollm2-135m-coinflip --prune "$DEFAULT" "${K[@]}" --early-stop \
    --prune-select swift,swift-vote,majority
  $B eval --data data/words-test --head runs/heads-q4_1/smollm2-135m-arith --prune "$DEFAULT" "${K[@]}"
}

case "${1:-all}" in
  sweep) sweep ;;
  heldout) heldout ;;
  all) sweep; heldout ;;
  *) echo "usage: $0 [sweep|heldout|all]" >&2; exit 2 ;;
esac
