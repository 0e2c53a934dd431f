#!/usr/bin/env bash
# A benchmark that measured nothing exits non-zero with a line saying why, so a harness never reads an empty run
# as a pass: bench_mala on a CUDA backend without a usable GPU, bench_train and bench_ustep given no known preset.
set -uo pipefail
bin=${EBGAN_BINARY_DIR:?}
fails=0
expect_fail() { # name command...
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then echo "FAILED: $name exited 0: $out"; fails=1; else echo "ok: $name exits $rc: $(echo "$out" | tail -1)"; fi
}
if [ -x "$bin/bench_mala" ] && ! "$bin/ebgan-gpu" devices >/dev/null 2>&1; then
    expect_fail "bench_mala on cuda without a GPU" "$bin/bench_mala" 0.1 cuda
    why=$("$bin/bench_mala" 0.1 cuda 2>&1)
    echo "$why" | grep -q "bench_mala: no usable CUDA GPU: " || { echo "FAILED: bench_mala did not say why: $why"; fails=1; }
fi
expect_fail "bench_mala with no backend named" "$bin/bench_mala" 0.1 neither
expect_fail "bench_train with no known preset" "$bin/bench_train" cpu nosuch
expect_fail "bench_ustep with no known preset" "$bin/bench_ustep" cpu nosuch
exit $fails
