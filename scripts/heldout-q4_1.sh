#!/usr/bin/env bash
# The earlier results, before the default moved to Q8_0 weights and general heads (issues 14,
# 16): the published Q4_1 file, per-family heads with each task's own instruction, trained on 200
# problems x 16 (arithmetic seed 1001, CoinFlip seed 1002) into runs/heads-q4_1/, and evaluated on
# held-out collections (seeds 2002 and 3003), with the plots in models/. Those heads are also in
# git history (models/smollm2-135m-{arith,coinflip}.* before the Q8_0 heads replaced them).
# The Gemma-3 part needs `models/train-heads.sh gemma3-arith` first. data/ is not in git.
# Usage: scripts/heldout-q4_1.sh [smollm2|gemma3|all]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy)
K=(--k 1,2,4,8,16)
O=(--weights original)
H=runs/heads-q4_1

smollm2() {
  mkdir -p $H
  $B collect --task arithmetic --count 200 --seed 1001 "${COLLECT[@]}" "${O[@]}" --out data/arith-train
  $B train --data data/arith-train --out $H/smollm2-135m-arith --layers all --norm rms --loss ce --seed 42
  $B collect --task coinflip --count 200 --seed 1002 "${COLLECT[@]}" "${O[@]}" --out data/coin-train
  $B train --data data/coin-train --out $H/smollm2-135m-coinflip --layers all --norm rms --loss ce --seed 42
  $B collect --task arithmetic --count 100 --seed 2002 "${COLLECT[@]}" "${O[@]}" --out data/arith-test
  $B collect --task coinflip --count 60 --seed 3003 "${COLLECT[@]}" "${O[@]}" --out data/coin-test
  $B eval --data data/arith-test --head $H/smollm2-135m-arith "${K[@]}" --plot models/eval-smollm2-arith.svg
  $B eval --data data/coin-test --head $H/smollm2-135m-coinflip --head $H/smollm2-135m-arith "${K[@]}" \
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
