#!/usr/bin/env bash
# scripts/gpu_check.sh's preflight names why nothing can run, within seconds, and runs nothing after it: a
# library a carried binary needs is missing; the machine's glibc is older than the binaries need; the driver is
# older than the runtime (our binaries' own answer).
set -uo pipefail
src=${EBGAN_SOURCE_DIR:?}
. "$src/tests/gpu_check_fakes.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

gpu_check() { # runs the script on the fake machine; sets msg and rc
    local t0
    t0=$(date +%s)
    msg=$(cd "$src" && PATH="$d/path:$PATH" GPU_CARRY="$d/carry" OUT="$d/out" bash scripts/gpu_check.sh 2>&1)
    rc=$?
    secs=$(($(date +%s) - t0))
}
nothing_after() {
    check '[ $rc -eq 2 ]' "exit $rc, expected 2 (nothing could run)"
    check '[ $secs -le 30 ]' "the preflight took $secs s"
    check '[ ! -s "$d/out/cases.jsonl" ]' "test cases ran after a failed preflight"
    check '[ "$(grep -c . "$d/out/summary.jsonl")" -eq 1 ]' "steps ran after a failed preflight: $(cat "$d/out/summary.jsonl")"
}

# 1. a carried binary needs a library that is not there
fake_machine "$d"
command -v cc >/dev/null || { echo "no C compiler: skipped"; exit 77; }
echo 'int eb_fake_lib(void) { return 0; }' >"$d/lib.c"
echo 'int eb_fake_lib(void); int main(void) { return eb_fake_lib(); }' >"$d/main.c"
cc -shared -fPIC -o "$d/libebfake.so" "$d/lib.c" && cc -o "$d/carry/bin/bench_mala" "$d/main.c" -L"$d" -lebfake ||
    { echo "cannot build the fake binary"; exit 1; }
rm -f "$d/libebfake.so"
gpu_check
nothing_after
check 'echo "$msg" | grep -q "preflight FAILED: libraries not found: bin/bench_mala: libebfake.so"' "the cause should name the library and the binary"

# 2. the machine's glibc is older than the carried binaries need
rm -f "$d/carry/bin/bench_mala"
echo GLIBC_99.0 >"$d/carry/glibc_needed"
gpu_check
nothing_after
check 'echo "$msg" | grep -q "preflight FAILED: glibc .* here, the carried binaries need GLIBC_99.0"' "the cause should name both glibc versions"

# 3. the driver is older than the runtime: our binaries' own words
rm -f "$d/carry/glibc_needed"
FAKE_NO_DEVICE="cudaGetDeviceCount: CUDA driver version is insufficient for CUDA runtime version" gpu_check
nothing_after
check 'echo "$msg" | grep -q "preflight FAILED: no usable CUDA GPU for our binaries: cudaGetDeviceCount: CUDA driver version is insufficient"' \
    "the cause should carry the runtime's error"

# and a healthy fake machine passes the preflight
gpu_check_ok=$(cd "$src" && PATH="$d/path:$PATH" GPU_CARRY="$d/carry" OUT="$d/out2" GPU_CHECK_STEPS=none bash scripts/gpu_check.sh 2>&1)
check 'grep -q "\"step\":\"preflight\",\"rc\":0" "$d/out2/summary.jsonl"' "a healthy machine failed the preflight: $gpu_check_ok"
echo "ok"
