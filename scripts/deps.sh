#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those missing (uses sudo when not root).
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL) is optional and is not installed here.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libpng-dev zlib1g-dev)
# OpenBLAS on OpenMP threads, the pool the CPU kernels' loops use (CMakeLists.txt)
pkgs+=(libopenblas-openmp-dev)
# Fashion-MNIST for the image presets (DESIGN.md §5); the tests skip what needs it when absent.
pkgs+=(dataset-fashion-mnist)
# Data parallelism on the CPU backend (Open MPI) and the real single-node SLURM of tests/test_slurm.c.
pkgs+=(libopenmpi-dev openmpi-bin munge slurmctld slurmd slurm-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Python packages used only by the cross-check tests against reference implementations.
if command -v python3 >/dev/null; then
  python3 -c "import numpy, safetensors" 2>/dev/null || \
    python3 -m pip install -q numpy safetensors 2>/dev/null || \
    echo "deps: numpy/safetensors not installable; the reference cross-check tests will skip"
  # TensorBoard's own event reader, scikit-learn's ranking metrics and matplotlib (scripts/plot_metrics.py):
  # the tests that check against them skip (exit 77) where they cannot be installed
  python3 -c "import tensorboard, sklearn, matplotlib" 2>/dev/null || \
    python3 -m pip install -q tensorboard scikit-learn matplotlib 2>/dev/null || \
    echo "deps: tensorboard/scikit-learn/matplotlib not installable; the tests that read with them will skip"
fi
