#!/usr/bin/env bash
# On the device machine (one call of the device tool, .gpucarry/ carried, see scripts/gpu_carry.sh): every
# GPU check of the project with logs under $OUT: the GPU tests, compute-sanitizer memcheck and racecheck on
# them, a 25gaussians demo run on the GPU and its eval verdict, and the benchmarks (ours and PyTorch's).
# GPU_CHECK_STEPS (space-separated) picks steps: tests memcheck racecheck demo bench mala (default all).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
C=.gpucarry
steps=${GPU_CHECK_STEPS:-"tests memcheck racecheck demo bench mala"}
# cuDNN, cuBLAS and NCCL of the image live in its Python packages
pylibs=$(python3 -c '
import importlib, os
out = []
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.nccl", "nvidia.cuda_runtime", "nvidia.cuda_nvrtc", "nvidia.nvjitlink", "nvidia.cu13"):
    try:
        for p in importlib.import_module(m).__path__:
            for sub in ("lib", "lib64"):
                if os.path.isdir(os.path.join(p, sub)): out.append(os.path.join(p, sub))
    except Exception:
        pass
print(":".join(out))' 2>/dev/null)
export LD_LIBRARY_PATH="$PWD/$C/lib:${pylibs}:${LD_LIBRARY_PATH:-}"
log="$OUT/gpu_check.log"
sum="$OUT/summary.jsonl"
: >"$log"
: >"$sum"
want() { case " $steps " in *" $1 "*) return 0 ;; esac; return 1; }
# step NAME TIMEOUT_S CMD...: runs with a time limit, output to the log, one JSON line to summary.jsonl
step() {
    local name=$1 lim=$2
    shift 2
    echo "==== $name: $*" >>"$log"
    local t0 rc t1
    t0=$(date +%s.%N)
    timeout "$lim" "$@" >>"$log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    printf '{"step": "%s", "rc": %d, "seconds": %.1f}\n' "$name" "$rc" "$(awk "BEGIN {print $t1 - $t0}")" | tee -a "$sum"
}
step nvidia-smi 30 nvidia-smi
step ldd 30 ldd $C/bin/gpu_ops
if want tests; then
    for t in gpu_ops gpu_mala gpu_train; do step "$t" 240 $C/bin/$t; done
fi
if want memcheck; then
    step memcheck-gpu_ops 300 compute-sanitizer --tool memcheck --error-exitcode 1 $C/bin/gpu_ops
    step memcheck-gpu_train 300 compute-sanitizer --tool memcheck --error-exitcode 1 $C/bin/gpu_train graph_replay_equals_eager_bit_for_bit
    step memcheck-gpu_mala 300 compute-sanitizer --tool memcheck --error-exitcode 1 $C/bin/gpu_mala
fi
if want racecheck; then
    step racecheck-gpu_ops 300 compute-sanitizer --tool racecheck --error-exitcode 1 $C/bin/gpu_ops
    step synccheck-gpu_ops 300 compute-sanitizer --tool synccheck --error-exitcode 1 $C/bin/gpu_ops
fi
if want demo; then
    # the quick 25gaussians demo on the GPU (graph on), then on the CPU of the same machine: same verdict?
    rm -rf /tmp/ebgan-demo-gpu /tmp/ebgan-demo-cpu
    step demo-gpu 300 $C/bin/ebgan-gpu demo --device cuda --progress 0 --out /tmp/ebgan-demo-gpu
    step eval-gpu 60 $C/bin/ebgan-gpu eval --run /tmp/ebgan-demo-gpu
    cp /tmp/ebgan-demo-gpu/samples.png "$OUT/demo_gpu_samples.png" 2>/dev/null
    step demo-cpu 300 $C/bin/ebgan-gpu demo --device cpu --progress 0 --out /tmp/ebgan-demo-cpu
    step eval-cpu 60 $C/bin/ebgan-gpu eval --run /tmp/ebgan-demo-cpu
fi
if want bench; then
    # iterations per second at batch 64, ours and the PyTorch reference, on this GPU in one run
    # scripts/bench_compare.sh: ours (graph on) against both PyTorch variants, batch 64, TF32 on both sides
    step bench-compare 420 env BUILD=$C/bin BATCH=64 REPEAT=2 bash scripts/bench_compare.sh cuda toy mnist cifar
    export EBGAN_BENCH_BATCH=64 EBGAN_BENCH_GRAPH=off
    step bench-train-nograph 200 $C/bin/bench_train cuda toy mnist cifar
    unset EBGAN_BENCH_GRAPH
    step bench-ustep 120 $C/bin/bench_ustep cuda
fi
if want mala; then
    step bench-mala 300 $C/bin/bench_mala 5 cuda
fi
grep -h '^{' "$log" >"$OUT/bench.jsonl" 2>/dev/null
echo "logs: $log, summary: $sum"
