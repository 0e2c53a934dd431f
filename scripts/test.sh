#!/usr/bin/env bash
# Builds and runs the whole test suite (GPU tests show as skipped without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
