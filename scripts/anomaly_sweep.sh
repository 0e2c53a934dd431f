#!/usr/bin/env bash
# The anomaly table of the README: for each held-out Fashion-MNIST class, train on the paper's split
# (--holdout-class K) and score the test split (eval --anomaly); one JSON line per class on stdout.
#   bash scripts/anomaly_sweep.sh [ITERS] [CLASSES...]     env: EBGAN (binary), OUT (runs/anomaly), DIM
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${1:-600}
shift || true
CLASSES=${*:-0 1 2 3 4 5 6 7 8 9}
EBGAN=${EBGAN:-build/ebgan-gpu}
OUT=${OUT:-runs/anomaly}
DIM=${DIM:-128}
mkdir -p "$OUT"
for k in $CLASSES; do
  run="$OUT/class-$k"
  rm -rf "$run"
  # the paper's anomaly script: one U step per G step, lambda 100 on its channel norm (the preset's
  # --holdout-class default, 100/784 here), lr 1e-4, batch 64; the width reduced to fit a CPU
  "$EBGAN" train --model mnist --dim "$DIM" --dataset fashion-mnist --holdout-class "$k" --n-critic 1 \
    --iters "$ITERS" --log-every 50 --plot-every 0 --ckpt-every 0 --out "$run" --progress 0 > "$run.log" 2>&1 \
    || { tail -2 "$run.log" >&2; exit 1; }
  "$EBGAN" eval --run "$run" --anomaly
done
