#!/usr/bin/env bash
# scripts/gpu_check.sh without a GPU: --plan fits the deadline, and a run stops at once with a "no GPU" line
# and exit 2 (it never reports skipped GPU tests as passes). Skipped (77) on a machine that has nvidia-smi.
set -uo pipefail
src=${EBGAN_SOURCE_DIR:?}
plan=$(bash "$src/scripts/gpu_check.sh" --plan) || { echo "--plan failed: $plan"; exit 1; }
echo "$plan"
total=$(echo "$plan" | awk '$1 == "total" {print $2}')
[ -n "$total" ] && [ "$total" -le 552 ] || { echo "plan total '$total' s does not fit 560 s less the summary"; exit 1; }
if command -v nvidia-smi >/dev/null 2>&1; then echo "nvidia-smi present: the dry run needs a machine without"; exit 77; fi
carry=$(mktemp -d)
trap 'rm -rf "$carry"' EXIT
mkdir -p "$carry/bin" && cp "${EBGAN_BINARY_DIR:?}/gpu_ops" "$carry/bin/"
t0=$(date +%s)
msg=$(GPU_CARRY="$carry" OUT="$carry/out" bash "$src/scripts/gpu_check.sh" 2>&1)
rc=$?
echo "$msg (rc $rc, $(($(date +%s) - t0)) s)"
[ $rc -eq 2 ] || { echo "expected exit 2 without a GPU, got $rc"; exit 1; }
echo "$msg" | grep -q "no GPU" || { echo "expected a 'no GPU' line"; exit 1; }
[ $(($(date +%s) - t0)) -le 10 ] || { echo "took too long to notice"; exit 1; }
! grep -q '"verdict":"ok"' "$carry/out/cases.jsonl" 2>/dev/null || { echo "reported a case as passed"; exit 1; }
echo "ok"
