#!/usr/bin/env bash
# Reproduces the shipped head for the default model, models/smollm2-135m-arith.{safetensors,yaml}:
# collect 200 generated arithmetic problems x 16 candidates with all 31 states, then train a
# gated head on the states and normalisation chosen on the collection's own validation split
# (see README, "Results"). Collection takes about 30 minutes on 2 CPU cores and 7 GB of disk;
# it resumes if interrupted. Training takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B=target/release/swift-bon
LAYERS="${LAYERS:-all}"
NORM="${NORM:-rms}"
$B collect --task arithmetic --count 200 --seed 1001 -n 16 --max-tokens 192 --layers all --entropy --out data/arith-train
$B train --data data/arith-train --out models/smollm2-135m-arith --layers "$LAYERS" --norm "$NORM" --seed 42 \
  --notes "default head: arithmetic (two 1-2 digit numbers, + and -), 200 problems x 16 candidates, seed 1001"
