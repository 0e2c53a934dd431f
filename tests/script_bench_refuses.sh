#!/usr/bin/env bash
# `ebgan-gpu bench` that cannot measure exits non-zero with one line naming the cause: a data file that does
# not exist, --device cuda on a machine without a usable GPU (that case only where `ebgan-gpu devices` finds
# none), and a usage error (exit 2).
set -uo pipefail
exe=${EBGAN_BINARY_DIR:?}/ebgan-gpu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# refused: `expect CODE NEEDLE args...` runs bench, wants exit CODE (any non-zero for "nz") and one stderr line
# containing NEEDLE, and nothing on stdout
expect() {
    local code=$1 needle=$2
    shift 2
    "$exe" bench "$@" > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    echo "bench $*: exit $rc: $(cat "$tmp/err")"
    if [ "$code" = nz ]; then [ $rc -ne 0 ] || { echo "expected a non-zero exit"; exit 1; }
    else [ $rc -eq "$code" ] || { echo "expected exit $code"; exit 1; }; fi
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || { echo "expected exactly one line on stderr"; exit 1; }
    grep -q -- "$needle" "$tmp/err" || { echo "the line does not name '$needle'"; exit 1; }
    [ ! -s "$tmp/out" ] || { echo "a refused bench printed a measurement"; exit 1; }
}
expect nz "$tmp/none.npy" --preset cifar --dataset "$tmp/none.npy" --device cpu --iters 1
expect 2 "--repeat" --preset toy --repeat 0
if "$exe" devices > /dev/null 2>&1; then
    echo "a usable GPU is present: --device cuda is possible here"
else
    expect nz "CUDA" --preset toy --device cuda --iters 1
fi
echo ok
