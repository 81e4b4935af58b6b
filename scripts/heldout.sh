#!/usr/bin/env bash
# The README's results: the shipped heads (models/train-heads.sh) on held-out problems of each
# family, on the default model (SmolLM2-135M-Instruct, Q8_0), each family asked as the general
# head asks it (numbers with NUM, yes/no questions with YESNO).
# Held-out sets never used for training or for any choice:
#   arith-test100  arithmetic, seed 2002 (the training generator, another seed), 100 problems
#   coin-test60    CoinFlip, seed 3003, 60 problems
#   words-test     scripts/word-problems.py, seed 7007, 30 problems
#   arith-alt60, coin-alt50, words-alt
#                  scripts/heldout-problems.py (other phrasings, names and objects): 60, 50, 25 problems
# Each is evaluated with the general head and the family's own head (word problems have none),
# so the tables show: random, random among answered, majority, log-prob, each head's argmax
# (swift), its calibrated soft vote (auto, what `ask` uses) and the oracle.
# Usage: scripts/heldout.sh [collect|eval|all]  (default: all). data/ is not in git.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
NUM='Solve the arithmetic problem. End your reply with \"The answer is\" followed by the number.'
YESNO='Answer the question. If it is a yes-or-no question, start your reply with Yes or No. Otherwise end your reply with \"The answer is\" followed by the number.'
COLLECT=(-n 16 --max-tokens 192 --layers all --entropy)
D=data/q8   # problem files and yes/no collections (YESNO)
N=data/q8n  # number collections (NUM)
K=(--k 1,2,4,8,16)
G=models/smollm2-135m-general

jsonl() { echo "{\"task\":\"jsonl\",\"path\":\"$D/$1.jsonl\",\"answer\":\"$2\",\"instruction\":\"$3\"}"; }

collect() {
  mkdir -p $D $N
  python3 scripts/word-problems.py --seed 7007 --count 30 > $D/words-test.jsonl
  python3 scripts/heldout-problems.py --family arithmetic --seed 8008 --count 60 > $D/arith-alt60.jsonl
  python3 scripts/heldout-problems.py --family coinflip --seed 8009 --count 50 > $D/coin-alt50.jsonl
  python3 scripts/heldout-problems.py --family words --seed 8010 --count 25 > $D/words-alt.jsonl
  $B collect --task "{\"task\":\"arithmetic\",\"count\":100,\"seed\":2002,\"instruction\":\"$NUM\"}" "${COLLECT[@]}" --out $N/arith-test100
  $B collect --task "{\"task\":\"coinflip\",\"count\":60,\"seed\":3003,\"instruction\":\"$YESNO\"}" "${COLLECT[@]}" --out $D/coin-test60
  $B collect --task "$(jsonl words-test number "$NUM")" "${COLLECT[@]}" --out $N/words-test
  $B collect --task "$(jsonl arith-alt60 number "$NUM")" "${COLLECT[@]}" --out $N/arith-alt60
  $B collect --task "$(jsonl coin-alt50 yes-no "$YESNO")" "${COLLECT[@]}" --out $D/coin-alt50
  $B collect --task "$(jsonl words-alt number "$NUM")" "${COLLECT[@]}" --out $N/words-alt
}
evaluate() {
  for set in arith-test100 arith-alt60; do
    echo "== $set"; $B eval --data $N/$set --head $G --head models/smollm2-135m-arith "${K[@]}"
  done
  for set in coin-test60 coin-alt50; do
    echo "== $set"; $B eval --data $D/$set --head $G --head models/smollm2-135m-coinflip "${K[@]}"
  done
  for set in words-test words-alt; do
    echo "== $set"; $B eval --data $N/$set --head $G "${K[@]}"
  done
  $B eval --data $N/arith-test100 --head $G "${K[@]}" --plot models/eval-general-arith.svg > /dev/null
  $B eval --data $D/coin-test60 --head $G "${K[@]}" --plot models/eval-general-coinflip.svg > /dev/null
}

case "${1:-all}" in
  collect) collect ;;
  eval) evaluate ;;
  all) collect; evaluate ;;
  *) echo "usage: $0 [collect|eval|all]" >&2; exit 2 ;;
esac
