#!/usr/bin/env bash
# Full MEG iteration, ours (`build/ebgan-gpu bench`) against the PyTorch reference (bench/ref_pytorch.py), on
# this machine in one run, same batch and thread count; prints the JSON lines and a table of ratios
# (ours it/s / pytorch it/s, > 1: we are faster), with the BLAS core ours ran on.
# Usage: scripts/bench_compare.sh [cpu|cuda] [model ...]          (models: toy mnist cifar; default all)
# Env:   BATCH (64), THREADS (CPU threads for both: OpenBLAS/OMP and torch.set_num_threads; default nproc),
#        STEPS (timed iterations for both; default: each tool's own), VARIANTS ("paper lean"),
#        BUILD (build), PYTHON (python3), TF32 (on: TF32 on for both on CUDA; off: fp32 for both),
#        REPEAT (1): rounds of the whole comparison, ours and theirs interleaved per model; the table takes
#        each side's best round (mean it/s) and its best single iteration (min ms), for a shared, busy machine;
#        BASE (unset): a second build folder (e.g. the commit before a change) whose `ebgan-gpu bench` (or, in a
#        build older than that command, bench_train) runs right before ours in every round: the table adds its
#        ratio, a before / after from the same run; BASE_ENV (unset): VAR=value words set for BASE's runs
#        only (e.g. BASE_ENV=OPENBLAS_CORETYPE=Prescott: the same build on OpenBLAS's pre-AVX kernels);
#        WAIT (passive): OMP_WAIT_POLICY for both (both run their loops on libgomp threads; "" leaves
#        OpenMP's default, active spinning): on a machine shared with other jobs, spinning at a join burns
#        the core the partner thread needs, and both sides slow down ~10x (README: CPU speed).
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
[ -x "$BUILD/ebgan-gpu" ] || { echo "bench_compare: $BUILD/ebgan-gpu missing: build first (scripts/build.sh)" >&2; exit 2; }
"$PYTHON" -c "import torch" 2>/dev/null || { echo "bench_compare: PyTorch not importable by $PYTHON" >&2; exit 2; }

export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
WAIT=${WAIT-passive}
[ -n "$WAIT" ] && export OMP_WAIT_POLICY=$WAIT
export EBGAN_BENCH_BATCH=$BATCH
[ -n "${STEPS:-}" ] && export EBGAN_BENCH_STEPS=$STEPS
if [ "$TF32" = on ]; then export EBGAN_BENCH_PRECISION=tf32; else export EBGAN_BENCH_PRECISION=fp32; fi

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# ours: `ebgan-gpu bench` of build folder $1 on model $2 (its settings go to $err, shown when it fails)
ours() {
    local b=$1 m=$2
    shift 2
    if "$b/ebgan-gpu" bench --help > /dev/null 2>&1; then
        # shellcheck disable=SC2086
        "$@" "$b/ebgan-gpu" bench --preset "$m" --device "$device" --batch "$BATCH" --threads "$THREADS" \
            --precision "$EBGAN_BENCH_PRECISION" --cuda-graph "${EBGAN_BENCH_GRAPH:-on}" ${STEPS:+--iters "$STEPS"} 2> "$err" ||
            { cat "$err" >&2; return 1; }
        grep -m1 '(run)' "$err" >&2 || true
    else
        "$@" "$b/bench_train" "$device" "$m"
    fi
}
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; device $device, batch $BATCH, threads $THREADS" \
     "$( [ "$device" = cuda ] && nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "# command: $0 $device ${models[*]} (BATCH=$BATCH THREADS=$THREADS STEPS=${STEPS:-default} VARIANTS=\"$VARIANTS\"" \
     "REPEAT=${REPEAT:-1} WAIT=${WAIT:-default})"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# one model at a time, ours then theirs, so both see the same machine state
for ((r = 1; r <= ${REPEAT:-1}; r++)); do
    for m in "${models[@]}"; do
        if [ -n "${BASE:-}" ]; then
            # shellcheck disable=SC2086
            ours "$BASE" "$m" env ${BASE_ENV:-} | sed 's/"impl":"ebgan"/"impl":"ebgan-base"/' | tee -a "$out"
        fi
        ours "$BUILD" "$m" env | tee -a "$out"
        # shellcheck disable=SC2086
        "$PYTHON" bench/ref_pytorch.py --model "$m" --variant $VARIANTS --device "$device" --batch "$BATCH" \
            --threads "$THREADS" --tf32 "$TF32" ${STEPS:+--steps "$STEPS"} | tee -a "$out"
    done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$out" "${BASE:-}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}  # (model, impl-variant) -> (max it/s over rounds, min single-iteration ms)
for r in rows:
    k = (r["model"], r.get("variant", "ebgan") if r["impl"] == "pytorch" else r["impl"])
    its, mn = best.get(k, (0.0, float("inf")))
    best[k] = (max(its, r["it_per_s"]), min(mn, r["min_ms_per_it"]))
print("\n%-6s %-6s %11s %11s %11s %13s %13s %11s" % ("model", "ref", "ours it/s", "torch it/s", "ours/torch",
                                                    "ours best ms", "torch best ms", "ours/torch"))
print("%-6s %-6s %11s %11s %11s %13s %13s %11s" % ("", "", "(mean)", "(mean)", "(mean)", "(1 iter)", "(1 iter)",
                                                    "(best)"))
for (m, v), (its, mn) in best.items():
    if v.startswith("ebgan") or (m, "ebgan") not in best:
        continue
    o_its, o_mn = best[(m, "ebgan")]
    print("%-6s %-6s %11.4g %11.4g %10.2fx %13.1f %13.1f %10.2fx" % (m, v, o_its, its, o_its / its, o_mn, mn, mn / o_mn))
    if (m, "ebgan-base") in best:
        b_its, b_mn = best[(m, "ebgan-base")]
        print("%-6s %-6s %11.4g %11s %10.2fx %13.1f %13s %10.2fx   <- BASE=%s" % ("", "(base)", b_its, "", b_its / its, b_mn,
              "", mn / b_mn, sys.argv[2]))
print("(ratio > 1: ours is faster; threads %s)" % sorted({r.get("threads") for r in rows if "threads" in r}))
for impl in ("ebgan", "ebgan-base"):
    cores = sorted({r["blas_core"] for r in rows if r["impl"] == impl and "blas_core" in r})
    if cores:
        print("%s: BLAS core %s" % ("ours" if impl == "ebgan" else "base", ", ".join(cores)))
EOF
