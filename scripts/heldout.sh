#!/usr/bin/env bash
# The README's results: held-out collections (seeds 2002 and 3003, never used for training or
# for any choice) and `swift-bon eval` of the shipped heads on them, with the plots in models/.
# Run models/train-heads.sh first (or use the heads in models/). data/ is not in git.
# Usage: scripts/heldout.sh [smollm2|gemma3|all]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy)
K=(--k 1,2,4,8,16)

smollm2() {
  $B collect --task arithmetic --count 100 --seed 2002 "${COLLECT[@]}" --out data/arith-test
  $B collect --task coinflip --count 60 --seed 3003 "${COLLECT[@]}" --out data/coin-test
  $B eval --data data/arith-test --head models/smollm2-135m-arith "${K[@]}" --plot models/eval-smollm2-arith.svg
  $B eval --data data/coin-test --head models/smollm2-135m-coinflip --head models/smollm2-135m-arith "${K[@]}" \
    --plot models/eval-smollm2-coinflip.svg
}
gemma3() {
  $B collect -m gemma3-270m --task arithmetic --count 100 --seed 2002 "${COLLECT[@]}" --out data/gemma-arith-test
  $B collect -m gemma3-270m --task coinflip --count 60 --seed 3003 "${COLLECT[@]}" --out data/gemma-coin-test
  $B eval --data data/gemma-arith-test --head runs/heads/gemma3-270m-arith "${K[@]}" --plot models/eval-gemma3-arith.svg
  $B eval --data data/gemma-coin-test --head runs/heads/gemma3-270m-arith "${K[@]}" --plot models/eval-gemma3-coinflip.svg
}

case "${1:-all}" in
  smollm2) smollm2 ;;
  gemma3) gemma3 ;;
  all) smollm2; gemma3 ;;
  *) echo "usage: $0 [smollm2|gemma3|all]" >&2; exit 2 ;;
esac
