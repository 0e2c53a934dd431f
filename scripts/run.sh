#!/usr/bin/env bash
# Builds ebgan-gpu and runs the default training job (toy preset on 25gaussians, a few minutes on a CPU),
# then evaluates it. Extra arguments go to `ebgan-gpu train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
out="runs/$(date +%Y%m%d-%H%M%S)"
./build/ebgan-gpu train --out "$out" "$@"
./build/ebgan-gpu eval --run "$out"
echo "open $out/samples.png"
