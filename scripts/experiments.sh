#!/bin/bash
# Head variants for the default model on data/arith-train (the Q4_1-era collection made by scripts/heldout-q4_1.sh).
# Every choice is made on the validation split that `train` prints (40 of the 200 problems);
# data/arith-test is only reported, never used to choose. Heads go to runs/heads/ (not in git).
#   scripts/experiments.sh states   # which states and which normalisation
#   scripts/experiments.sh recipe   # loss, class balance, learning rate, weight decay (all states, rms)
#   scripts/experiments.sh gemma3   # states and normalisation for Gemma-3-270M (data/gemma-arith-train)
set -u
cd "$(dirname "$0")/.."
B=./target/release/swift-bon
mkdir -p runs/heads
DATA=data/arith-train
train() { # name, then train options
  local name=$1
  shift
  echo "== $name"
  # These variants were measured with ce as the default loss.
  local loss=(--loss ce)
  [[ " $* " == *" --loss "* ]] && loss=()
  $B train --data "$DATA" --out "runs/heads/$name" -q "${loss[@]}" "$@" 2>&1 | tail -1
}
case "${1:-states}" in
  states)
    for cfg in "last:4 none" "last:4 rms" "last:4 standardize" "last:8 rms" "10-17 rms" "all rms"; do
      set -- $cfg
      train "smol-$(echo "$1" | tr -d ':')-$2" --layers "$1" --norm "$2"
    done
    ;;
  recipe)
    train smol-all-rms --layers all
    train smol-all-pairwise --layers all --loss pairwise
    train smol-all-balance --layers all --balance
    train smol-all-lr3e-4 --layers all --lr 3e-4
    train smol-all-lr3e-5 --layers all --lr 3e-5 --epochs 80
    train smol-all-wd1e-2 --layers all --weight-decay 1e-2
    ;;
  gemma3)
    # Gemma-3-270M: 18 blocks, so all = 19 states, last:4 = 14-17, middle = 6-11.
    DATA=data/gemma-arith-train
    for cfg in "last:4 none" "last:4 rms" "last:8 rms" "6-11 rms" "all none" "all rms" "all standardize"; do
      set -- $cfg
      train "gemma-$(echo "$1" | tr -d ':')-$2" --layers "$1" --norm "$2"
    done
    train gemma-all-rms-pairwise --layers all --loss pairwise
    train gemma-last4-rms-pairwise --layers last:4 --loss pairwise
    ;;
  *)
    echo "usage: $0 states|recipe|gemma3" >&2
    exit 2
    ;;
esac
