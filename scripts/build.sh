#!/usr/bin/env bash
# Configures and builds into ./build (CUDA backend too when nvcc is on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${EBGAN_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
