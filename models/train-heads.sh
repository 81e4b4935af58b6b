#!/usr/bin/env bash
# Reproduces the heads in models/ with the project's own commands, on the default model in its
# default weight format (SmolLM2-135M-Instruct converted to Q8_0):
#   smollm2-135m-general   the default head of `ask` (no --task): arithmetic + CoinFlip + word problems
#   smollm2-135m-arith     ask --task arithmetic
#   smollm2-135m-coinflip  ask --task coinflip
# All three share one instruction (INSTR below), so the general head's prompt works for every
# family: a yes/no question gets "Yes"/"No" first, anything else ends with "The answer is N".
# Training problems: arithmetic seed 1001 (100), CoinFlip seed 1002 (100), word problems from
# scripts/word-problems.py seed 1003 (60). The held-out sets (scripts/heldout.sh) use other seeds
# and, for the "alt" sets, other phrasings. Each collection is 16 candidates per problem with
# every state (resumable if interrupted; data/ is not in git). Each head: all states, rms, the
# pairwise loss (chosen by cross-validation, see README); 5-fold cross-validation is reported, and
# the soft vote of the `auto` selection is calibrated on the out-of-fold scores of every problem.
# Usage: models/train-heads.sh [collect|train|all|gemma3-arith]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
INSTR='Answer the question. If it is a yes-or-no question, start your reply with Yes or No. Otherwise end your reply with \"The answer is\" followed by the number.'
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy)
TRAIN=(--layers all --norm rms --loss pairwise --folds 5 --seed 42)
D=data/q8

collect() { # about 25 minutes on 2 cores
  mkdir -p $D
  python3 scripts/word-problems.py --seed 1003 --count 60 > $D/words-train.jsonl
  $B collect --task "{\"task\":\"arithmetic\",\"count\":100,\"seed\":1001,\"instruction\":\"$INSTR\"}" "${COLLECT[@]}" --out $D/arith-train
  $B collect --task "{\"task\":\"coinflip\",\"count\":100,\"seed\":1002,\"instruction\":\"$INSTR\"}" "${COLLECT[@]}" --out $D/coin-train
  $B collect --task "{\"task\":\"jsonl\",\"path\":\"$D/words-train.jsonl\",\"answer\":\"number\",\"instruction\":\"$INSTR\"}" "${COLLECT[@]}" --out $D/words-train
}
train() {
  $B train --data $D/arith-train --data $D/coin-train --data $D/words-train --out models/smollm2-135m-general "${TRAIN[@]}" \
    --notes "general head: arithmetic (100) + CoinFlip (100) + word problems (60), x 16 candidates, one instruction"
  $B train --data $D/arith-train --out models/smollm2-135m-arith "${TRAIN[@]}" \
    --notes "arithmetic head: two 1-2 digit numbers, + and -, 100 problems x 16 candidates, seed 1001"
  $B train --data $D/coin-train --out models/smollm2-135m-coinflip "${TRAIN[@]}" \
    --notes "CoinFlip head: 2-4 people, 100 problems x 16 candidates, seed 1002"
}

# The Gemma-3-270M head of the README's older results (not shipped: it picks worse than random on
# held-out problems), with the arithmetic task's own instruction and the completion format.
gemma3_arith() {
  $B collect -m gemma3-270m --task arithmetic --count 200 --seed 1001 "${COLLECT[@]}" --out data/gemma-arith-train
  $B train --data data/gemma-arith-train --out runs/heads/gemma3-270m-arith --layers all --norm rms --loss ce --seed 42 \
    --notes "gemma3 head: arithmetic (two 1-2 digit numbers, + and -), completion format, 200 problems x 16 candidates, seed 1001"
}

case "${1:-all}" in
  collect) collect ;;
  train) train ;;
  all) collect; train ;;
  gemma3-arith) mkdir -p runs/heads; gemma3_arith ;;
  *) echo "usage: $0 [collect|train|all|gemma3-arith]" >&2; exit 2 ;;
esac
