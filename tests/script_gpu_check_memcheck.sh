#!/usr/bin/env bash
# scripts/gpu_check.sh's memcheck instruments only the project's kernels (eb_k_), leaves out the cuDNN searches,
# and when the deadline kills it, the summary says so instead of an empty note.
set -uo pipefail
src=${EBGAN_SOURCE_DIR:?}
. "$src/tests/gpu_check_fakes.sh"
fake_setup
msg=$(cd "$src" && PATH="$d/path:$PATH" GPU_CARRY="$d/carry" OUT="$d/out" GPU_CHECK_STEPS="memcheck" \
      GPU_CHECK_BUDGETS="memcheck:6" FAKE_SANITIZER_SLEEP=60 bash scripts/gpu_check.sh 2>&1)
rc=$?
check '[ $rc -eq 1 ]' "exit $rc, expected 1 (memcheck did not finish)"
check 'grep -q "\"step\":\"memcheck\",\"rc\":124" "$d/out/summary.jsonl"' "memcheck should end with rc 124: $(cat "$d/out/summary.jsonl")"
check 'echo "$msg" | grep -q "memcheck: killed at the deadline"' "the summary should say memcheck was killed at the deadline"
check 'grep -q "compute-sanitizer|.*--kernel-name kns=eb_k_" "$FAKE_LOG"' "memcheck should filter on eb_k_: $(cat "$FAKE_LOG")"
check 'grep -q "compute-sanitizer|.*--skip .*conv2d_search_mode_keeps_the_output" "$FAKE_LOG"' "memcheck should skip the cuDNN searches"
echo "ok"
