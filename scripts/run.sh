#!/usr/bin/env bash
# Builds ebgan-gpu, runs the main job — the quick toy demo on 25gaussians, a few minutes on a CPU — and
# evaluates it. Extra arguments go to `ebgan-gpu train` (e.g. --device cuda, --iters N).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# OpenMP threads sleep at a join instead of spinning: on a machine shared with other jobs, spinning burns the
# core the partner thread needs (README: CPU speed); set OMP_WAIT_POLICY=active on a machine of your own.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
out="runs/$(date +%Y%m%d-%H%M%S)"
./build/ebgan-gpu demo --out "$out" "$@"
./build/ebgan-gpu eval --run "$out"
echo "open $out/samples.png"
