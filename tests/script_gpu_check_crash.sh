#!/usr/bin/env bash
# scripts/gpu_check.sh isolates a crash: after a sticky fault in one case, the crashed case runs alone under
# CUDA_LAUNCH_BLOCKING=1 (its error then names the kernel), the cases after it run again together in one new
# process, and only the crashed case is reported as failed.
set -uo pipefail
src=${EBGAN_SOURCE_DIR:?}
. "$src/tests/gpu_check_fakes.sh"
fake_setup
msg=$(cd "$src" && PATH="$d/path:$PATH" GPU_CARRY="$d/carry" OUT="$d/out" GPU_CHECK_STEPS="gpu_ops" \
      bash scripts/gpu_check.sh 2>&1)
rc=$?
cases=$(cat "$d/out/cases.jsonl")
check '[ $rc -eq 1 ]' "exit $rc, expected 1 (a case failed)"
for c in mem_roundtrip alpha gamma delta; do
    check 'echo "$cases" | grep -q "\"case\":\"$c\",\"verdict\":\"ok\""' "$c should be ok after isolation: $cases"
done
check 'echo "$cases" | grep -q "\"case\":\"beta\",\"verdict\":\"FAILED\""' "beta should be FAILED: $cases"
check 'echo "$cases" | grep "\"case\":\"beta\"" | grep -q eb_k_fake_scatter' "beta's error should name the kernel: $cases"
check 'grep -qx "1|beta" "$FAKE_LOG"' "beta was not rerun alone under CUDA_LAUNCH_BLOCKING=1: $(cat "$FAKE_LOG")"
check 'grep -qx "|--skip mem_roundtrip,alpha,beta" "$FAKE_LOG"' "gamma and delta were not rerun together in one process: $(cat "$FAKE_LOG")"
check '[ "$(grep -c "^|\(--skip.*\)\?$" "$FAKE_LOG")" -eq 2 ]' "expected 2 group processes: $(cat "$FAKE_LOG")"
check 'echo "$msg" | grep -q "gpu_ops.beta: FAILED"' "the summary should list beta"

# the same when the crashing process dies at once and the later cases never report
: >"$FAKE_LOG"
msg=$(cd "$src" && PATH="$d/path:$PATH" GPU_CARRY="$d/carry" OUT="$d/out" GPU_CHECK_STEPS="gpu_ops" FAKE_ABORT=1 \
      bash scripts/gpu_check.sh 2>&1)
rc=$?
cases=$(cat "$d/out/cases.jsonl")
check '[ $rc -eq 1 ]' "exit $rc, expected 1 (a case failed)"
check '[ "$(grep -c "\"verdict\":\"ok\"" "$d/out/cases.jsonl")" -eq 4 ]' "four cases should be ok after an abort: $cases"
check 'grep -qx "|--skip mem_roundtrip,alpha,beta" "$FAKE_LOG"' "the unreported cases were not rerun together: $(cat "$FAKE_LOG")"
echo "ok"
