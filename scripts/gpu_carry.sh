#!/usr/bin/env bash
# Builds the CUDA configuration here for Hopper (sm_90: the lent H100 / H200) and gathers into .gpucarry/
# (git-ignored) what the device machine needs to run it: GPU tests, benchmarks, the CLI, and the host
# libraries its image lacks (OpenBLAS, libpng). CUDA, cuBLAS and cuDNN come from the image there.
# Then, with the device tool: run(carry=[".gpucarry"], command="bash scripts/gpu_check.sh").
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-gpu -j"$(nproc)"
rm -rf .gpucarry
mkdir -p .gpucarry/bin .gpucarry/lib
bins="ebgan-gpu gpu_ops gpu_mala gpu_train bench_ustep bench_mala"
[ -x build-gpu/bench_train ] && bins="$bins bench_train"
for b in $bins; do cp build-gpu/$b .gpucarry/bin/; done
# host libraries outside the CUDA stack, resolved to files (the image has CUDA, cuBLAS, cuDNN, NCCL)
for b in $bins; do ldd build-gpu/$b; done | awk '/=>/ {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
    libopenblas*|libblas*|libcblas*|libgfortran*|libquadmath*|libpng*|libgomp*) cp -L "$lib" .gpucarry/lib/ ;;
    esac
done
du -sh .gpucarry
