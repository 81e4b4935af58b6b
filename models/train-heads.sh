#!/usr/bin/env bash
# Reproduces the heads in models/ with the project's own commands, on the default model in its
# default weight format (SmolLM2-135M-Instruct converted to Q8_0):
#   smollm2-135m-general   the default head of `ask` (no --task): arithmetic + word problems + CoinFlip,
#                          each of the two also asked in other phrasings
#   smollm2-135m-arith     ask --task arithmetic
#   smollm2-135m-coinflip  ask --task coinflip
# Each family is asked its own way: number questions (arithmetic, word problems) with the
# arithmetic task's instruction (NUM), yes/no questions with YESNO. The general head records both
# (instruction_by_kind) and `ask`/`serve` pick one by the kind read from each question.
# Training problems: arithmetic seed 1001 (400), word problems from scripts/word-problems.py seed
# 1003 (60), CoinFlip seed 1002 (100); for the general head also arithmetic (150, seed 1004) and
# CoinFlip (60, seed 1005) in the phrasings of scripts/train-phrasings.py. The held-out sets (scripts/heldout.sh) use other seeds and,
# for the "alt" sets, other phrasings. Each collection is 16 candidates per problem with every
# state (resumable if interrupted; data/ is not in git). Each head: all states, rms, the pairwise
# loss (chosen by cross-validation, see README), 5-fold cross-validation; the final head trains on
# every problem for the folds' median epoch, and the soft vote of the `auto` selection is
# calibrated on the out-of-fold scores by the one-standard-error rule; each head's calibration
# grid goes to runs/calibration-NAME.json, and `check` replays the choosing rule on it
# (scripts/rule-check.py: split-half checks on the training problems alone).
# Usage: models/train-heads.sh [collect|train|check|kinds|all]  (default: all; kinds is not part of all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
NUM='Solve the arithmetic problem. End your reply with \"The answer is\" followed by the number.'
YESNO='Answer the question. If it is a yes-or-no question, start your reply with Yes or No. Otherwise end your reply with \"The answer is\" followed by the number.'
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy)
TRAIN=(--layers all --norm rms --loss pairwise --folds 5 --seed 42)
Y=data/q8   # yes/no collections (YESNO)
N=data/q8n  # number collections (NUM)

collect() { # about 50 minutes on 2 cores
  mkdir -p $Y $N
  python3 scripts/word-problems.py --seed 1003 --count 60 > $Y/words-train.jsonl
  python3 scripts/train-phrasings.py --family arithmetic --seed 1004 --count 150 > $Y/phr-arith.jsonl
  python3 scripts/train-phrasings.py --family coinflip --seed 1005 --count 60 > $Y/phr-coin.jsonl
  $B collect --task "{\"task\":\"arithmetic\",\"count\":400,\"seed\":1001,\"instruction\":\"$NUM\"}" "${COLLECT[@]}" --out $N/arith-train
  $B collect --task "{\"task\":\"jsonl\",\"path\":\"$Y/words-train.jsonl\",\"answer\":\"number\",\"instruction\":\"$NUM\"}" "${COLLECT[@]}" --out $N/words-train
  $B collect --task "{\"task\":\"coinflip\",\"count\":100,\"seed\":1002,\"instruction\":\"$YESNO\"}" "${COLLECT[@]}" --out $Y/coin-train
  $B collect --task "{\"task\":\"jsonl\",\"path\":\"$Y/phr-arith.jsonl\",\"answer\":\"number\",\"instruction\":\"$NUM\"}" "${COLLECT[@]}" --out $N/phr-arith
  $B collect --task "{\"task\":\"jsonl\",\"path\":\"$Y/phr-coin.jsonl\",\"answer\":\"yes-no\",\"instruction\":\"$YESNO\"}" "${COLLECT[@]}" --out $Y/phr-coin
}
train() {
  mkdir -p runs
  $B train --data $N/arith-train --data $N/words-train --data $Y/coin-train --data $N/phr-arith --data $Y/phr-coin \
    --out models/smollm2-135m-general "${TRAIN[@]}" --calibration-json runs/calibration-general.json \
    --notes "general head: arithmetic (400) + word problems (60) + CoinFlip (100) + arithmetic (150) and CoinFlip (60) in other phrasings (scripts/train-phrasings.py), x 16 candidates; numbers and yes/no questions each with their own instruction"
  $B train --data $N/arith-train --out models/smollm2-135m-arith "${TRAIN[@]}" --calibration-json runs/calibration-arith.json \
    --notes "arithmetic head: two 1-2 digit numbers, + and -, 400 problems x 16 candidates, seed 1001"
  $B train --data $Y/coin-train --out models/smollm2-135m-coinflip "${TRAIN[@]}" --calibration-json runs/calibration-coinflip.json \
    --notes "CoinFlip head: 2-4 people, 100 problems x 16 candidates, seed 1002"
}

kinds() { # one set of weights (A) against weights per answer kind (B), README "Results"
  mkdir -p runs/heads
  local D=(--data $N/arith-train --data $N/words-train --data $Y/coin-train)
  $B train "${D[@]}" --out runs/heads/mixA "${TRAIN[@]}" --calibration-json runs/cal-A.json
  $B train "${D[@]}" --out runs/heads/kindB "${TRAIN[@]}" --weights-by-kind --calibration-json runs/cal-B.json
  python3 scripts/compare-calibrations.py runs/cal-A.json runs/cal-B.json
}

check() {
  for h in general arith coinflip; do echo "== $h"; python3 scripts/rule-check.py runs/calibration-$h.json; done
}

case "${1:-all}" in
  collect) collect ;;
  train) train ;;
  check) check ;;
  kinds) kinds ;;
  all) collect; train; check ;;
  *) echo "usage: $0 [collect|train|check|kinds|all]" >&2; exit 2 ;;
esac
