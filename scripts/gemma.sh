#!/usr/bin/env bash
# Gemma-3-270M (a base model: the completion format, run as Q8_0), issue 14 items 2 and 5:
# do worked examples that reason in steps give candidates a head can rank, and does a head then
# pick better answers than majority vote and log-probability on held-out arithmetic?
# Two prompt styles (the task option worked=line|steps), each collected on the same problems:
#   train  arithmetic seed 1001, 100 problems x 16 candidates
#   test   arithmetic seed 2002, 60 problems x 16 candidates (never used for a choice)
# Usage: scripts/gemma.sh [collect|train|eval|formats|all]  (default: all). data/ and runs/ are not in git.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
C=(-m gemma3-270m -n 16 --max-tokens 192 --layers all --entropy)
D=data/gemma
H=runs/heads/gemma3-270m-arith
K=(--k 1,2,4,8,16)
sfx() { [[ $1 == line ]] || echo "-$1"; }

collect() { # about 40 minutes on 2 cores
  mkdir -p $D
  for w in line steps; do
    $B collect --task "{\"task\":\"arithmetic\",\"count\":100,\"seed\":1001,\"worked\":\"$w\"}" "${C[@]}" --out $D/arith-train$(sfx $w)
    $B collect --task "{\"task\":\"arithmetic\",\"count\":60,\"seed\":2002,\"worked\":\"$w\"}" "${C[@]}" --out $D/arith-test$(sfx $w)
  done
}
train() {
  mkdir -p runs/heads
  for w in line steps; do
    $B train --data $D/arith-train$(sfx $w) --out $H$(sfx $w) --layers all --norm rms --loss pairwise --folds 5 --seed 42 \
      --calibration-json runs/calibration-gemma3-arith$(sfx $w).json \
      --notes "gemma3 head: arithmetic (two 1-2 digit numbers, + and -), completion format, worked=$w, 100 problems x 16 candidates, seed 1001"
  done
}
formats() { # accuracy per weight format (BENCHMARKS.md): the held-out set from the published Q4_K_M file
  $B collect --task '{"task":"arithmetic","count":60,"seed":2002}' "${C[@]}" --weights original --out $D/arith-test-original
  python3 scripts/paired.py $D/arith-test-original $D/arith-test
}
evaluate() {
  python3 scripts/rule-check.py runs/calibration-gemma3-arith.json
  for w in line steps; do
    echo "== worked=$w"; $B eval --data $D/arith-test$(sfx $w) --head $H$(sfx $w) "${K[@]}"
  done
}
case "${1:-all}" in
  collect) collect ;;
  train) train ;;
  eval) evaluate ;;
  formats) formats ;;
  all) collect; train; evaluate ;;
  *) echo "usage: $0 [collect|train|eval|formats|all]" >&2; exit 2 ;;
esac
