#!/usr/bin/env bash
# Builds the CUDA configuration here for Hopper (sm_90: the lent H200) and gathers into .gpucarry/ (git-ignored)
# what the device machine needs: GPU tests, benchmarks, the CLI, the host libraries its image lacks (OpenBLAS,
# libpng), and the CPU's verdict on the 25gaussians demo, computed here so the GPU call only trains on the GPU.
# Then, with the device tool: run(carry=[".gpucarry"], command="bash scripts/gpu_check.sh").
# Env: CPU_DEMO_EVAL=FILE reuses an eval.json of `ebgan-gpu demo --device cpu` instead of training it here (~3 min).
set -euo pipefail
cd "$(dirname "$0")/.."
# no MPI: the device machine's image lacks Open MPI's libraries (one rank, NCCL included, needs none)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DEBGAN_MPI=OFF >/dev/null
cmake --build build-gpu -j"$(nproc)"
rm -rf .gpucarry
mkdir -p .gpucarry/bin .gpucarry/lib
bins="ebgan-gpu gpu_ops gpu_mala gpu_train gpu_bn_sync gpu_dist bench_ustep bench_mala bench_train"
for b in $bins; do
    cp build-gpu/$b .gpucarry/bin/
    strip --strip-debug .gpucarry/bin/$b # host debug info only; the device code keeps -lineinfo
done
# host libraries outside the CUDA stack, resolved to files (the image has CUDA, cuBLAS, cuDNN, NCCL)
for b in $bins; do ldd build-gpu/$b; done | awk '/=>/ {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
    libopenblas*|libblas*|libcblas*|libgfortran*|libquadmath*|libpng*|libgomp*) cp -L "$lib" .gpucarry/lib/ ;;
    esac
done
# the CPU verdict on the demo, the reference for the GPU's (gpu_check.sh step demo)
if [ -n "${CPU_DEMO_EVAL:-}" ]; then
    cp "$CPU_DEMO_EVAL" .gpucarry/cpu_demo_eval.json
else
    rm -rf build-gpu/cpu-demo
    build-gpu/ebgan-gpu demo --device cpu --progress 0 --out build-gpu/cpu-demo >build-gpu/cpu-demo.log 2>&1
    build-gpu/ebgan-gpu eval --run build-gpu/cpu-demo | grep '^{' | tail -1 >.gpucarry/cpu_demo_eval.json
fi
git rev-parse HEAD >.gpucarry/commit
# the device tool carries the working tree and .gpucarry together: 64 MiB in all
tree_kb=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
carry_kb=$(du -sk .gpucarry | cut -f1)
total_mb=$(( (tree_kb + carry_kb) / 1024 ))
echo "gpu_carry: .gpucarry ${carry_kb} KiB + tree ${tree_kb} KiB = ${total_mb} MiB (limit 64 MiB)"
if [ $((tree_kb + carry_kb)) -ge $((62 * 1024)) ]; then
    echo "gpu_carry: over the device tool's 64 MiB carry limit (2 MiB kept in reserve)" >&2
    exit 1
fi
