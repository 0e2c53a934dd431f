#!/usr/bin/env bash
# On a build machine (with the CUDA toolkit; no GPU needed): builds the CUDA configuration for one GPU
# architecture and gathers into .gpucarry/ (git-ignored) what a machine with a GPU needs to run
# scripts/gpu_check.sh: the GPU tests, the benchmarks, the CLI, the host libraries such a machine may lack
# (OpenBLAS, libpng), the newest glibc symbol version they need, and the CPU's verdicts on the 25gaussians demo
# for 2-3 seeds (the GPU's demo is judged against their spread). Copy the working tree with .gpucarry/ to the
# GPU machine and run `bash scripts/gpu_check.sh` there.
# Env: CUDA_ARCH (default 90: Hopper), CPU_DEMO_SEEDS (default "1 2 3"), CPU_DEMO_EVAL=FILE reuses eval lines
#      (one JSON line per seed, as `ebgan-gpu eval` prints) instead of training the demos here (~3 min each),
#      CARRY_LIMIT_MB (fail when the tree plus the carry exceed it; 0 = no limit, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${CUDA_ARCH:-90}
# no MPI: one rank, NCCL included, needs none, and a GPU machine's image may lack Open MPI's libraries
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DEBGAN_MPI=OFF >/dev/null
cmake --build build-gpu -j"$(nproc)"
rm -rf .gpucarry
mkdir -p .gpucarry/bin .gpucarry/lib
bins="ebgan-gpu gpu_ops gpu_mala gpu_train gpu_bn_sync gpu_dist bench_ustep bench_mala bench_train"
for b in $bins; do
    cp build-gpu/$b .gpucarry/bin/
    strip --strip-debug .gpucarry/bin/$b # host debug info only; the device code keeps -lineinfo
done
# host libraries outside the CUDA stack, resolved to files (a GPU machine has CUDA, cuBLAS, cuDNN, NCCL)
for b in $bins; do ldd build-gpu/$b; done | awk '/=>/ {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
    libopenblas*|libblas*|libcblas*|libgfortran*|libquadmath*|libpng*|libgomp*) cp -L "$lib" .gpucarry/lib/ ;;
    esac
done
# the newest glibc symbol version the carried files need: the GPU machine's preflight compares its own glibc
for f in .gpucarry/bin/* .gpucarry/lib/*; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*'; done |
    sort -V -u | tail -1 >.gpucarry/glibc_needed
echo "gpu_carry: the carried files need $(cat .gpucarry/glibc_needed) or newer"
# the CPU's verdicts on the demo, one line per seed: the reference for the GPU's (gpu_check.sh step demo)
if [ -n "${CPU_DEMO_EVAL:-}" ]; then
    grep '^{' "$CPU_DEMO_EVAL" >.gpucarry/cpu_demo_eval.jsonl
else
    : >.gpucarry/cpu_demo_eval.jsonl
    for seed in ${CPU_DEMO_SEEDS:-1 2 3}; do
        d=build-gpu/cpu-demo-$seed
        rm -rf "$d"
        build-gpu/ebgan-gpu demo --device cpu --seed "$seed" --progress 0 --out "$d" >"$d.log" 2>&1
        build-gpu/ebgan-gpu eval --run "$d" | grep '^{' | tail -1 >>.gpucarry/cpu_demo_eval.jsonl
    done
fi
echo "gpu_carry: CPU demo verdicts: $(wc -l <.gpucarry/cpu_demo_eval.jsonl) seed(s)"
git rev-parse HEAD >.gpucarry/commit
tree_kb=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
carry_kb=$(du -sk .gpucarry | cut -f1)
total_mb=$(( (tree_kb + carry_kb) / 1024 ))
echo "gpu_carry: .gpucarry ${carry_kb} KiB + tree ${tree_kb} KiB = ${total_mb} MiB"
limit=${CARRY_LIMIT_MB:-0}
if [ "$limit" -gt 0 ] && [ "$total_mb" -gt "$limit" ]; then
    echo "gpu_carry: ${total_mb} MiB exceeds CARRY_LIMIT_MB=${limit}" >&2
    exit 1
fi
