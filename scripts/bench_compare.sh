#!/usr/bin/env bash
# Full MEG iteration, ours (build/bench_train) against the PyTorch reference (bench/ref_pytorch.py), on this
# machine in one run, same batch and thread count; prints the JSON lines and a table of ratios
# (ours it/s / pytorch it/s, > 1: we are faster).
# Usage: scripts/bench_compare.sh [cpu|cuda] [model ...]          (models: toy mnist cifar; default all)
# Env:   BATCH (64), THREADS (CPU threads for both: OpenBLAS/OMP and torch.set_num_threads; default nproc),
#        STEPS (timed iterations for both; default: each tool's own), VARIANTS ("paper lean"),
#        BUILD (build), PYTHON (python3), TF32 (on: TF32 on for both on CUDA; off: fp32 for both).
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cpu}
[ $# -gt 0 ] && shift
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(toy mnist cifar)
BATCH=${BATCH:-64}
THREADS=${THREADS:-$(nproc)}
VARIANTS=${VARIANTS:-paper lean}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
TF32=${TF32:-on}
[ -x "$BUILD/bench_train" ] || { echo "bench_compare: $BUILD/bench_train missing: build first (scripts/build.sh)" >&2; exit 2; }
"$PYTHON" -c "import torch" 2>/dev/null || { echo "bench_compare: PyTorch not importable by $PYTHON" >&2; exit 2; }

export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export EBGAN_BENCH_BATCH=$BATCH
[ -n "${STEPS:-}" ] && export EBGAN_BENCH_STEPS=$STEPS
if [ "$TF32" = on ]; then export EBGAN_BENCH_PRECISION=tf32; else export EBGAN_BENCH_PRECISION=fp32; fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; device $device, batch $BATCH, threads $THREADS" \
     "$( [ "$device" = cuda ] && nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "# command: $0 $device ${models[*]} (BATCH=$BATCH THREADS=$THREADS STEPS=${STEPS:-default} VARIANTS=\"$VARIANTS\")"
# one model at a time, ours then theirs, so both see the same machine state
for m in "${models[@]}"; do
    "$BUILD/bench_train" "$device" "$m" | tee -a "$out"
    # shellcheck disable=SC2086
    "$PYTHON" bench/ref_pytorch.py --model "$m" --variant $VARIANTS --device "$device" --batch "$BATCH" \
        --threads "$THREADS" --tf32 "$TF32" ${STEPS:+--steps "$STEPS"} | tee -a "$out"
done

"$PYTHON" - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ours = {r["model"]: r for r in rows if r["impl"] == "ebgan"}
print("\n%-6s %-6s %12s %12s %14s %8s" % ("model", "ref", "ours it/s", "torch it/s", "ours/torch", "threads"))
for r in rows:
    if r["impl"] != "pytorch" or r["model"] not in ours:
        continue
    o = ours[r["model"]]
    print("%-6s %-6s %12.4g %12.4g %13.2fx %8s" % (r["model"], r["variant"], o["it_per_s"], r["it_per_s"],
                                                   o["it_per_s"] / r["it_per_s"], r["threads"]))
EOF
