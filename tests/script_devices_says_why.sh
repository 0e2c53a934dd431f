#!/usr/bin/env bash
# Without a usable GPU, `ebgan-gpu devices` and `train --device cuda` say why in one line (the CUDA runtime's
# own error, or that the build has no CUDA backend) and exit non-zero; `devices` also prints it as JSON.
# Skipped (77) on a machine where a GPU is usable.
set -uo pipefail
bin=${EBGAN_BINARY_DIR:?}
out=$("$bin/ebgan-gpu" devices 2>&1)
rc=$?
[ $rc -eq 0 ] && { echo "a usable GPU here: skipped"; exit 77; }
echo "$out"
[ $rc -eq 1 ] || { echo "FAILED: devices exit $rc, expected 1"; exit 1; }
why=$(echo "$out" | grep '^ebgan-gpu devices: no usable CUDA GPU: ' | sed 's/^ebgan-gpu devices: no usable CUDA GPU: //')
[ -n "$why" ] || { echo "FAILED: no one-line reason"; exit 1; }
echo "$out" | grep '^{' | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["usable_devices"] == 0 and d["why_none"], d' ||
    { echo "FAILED: the JSON line lacks the reason"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
msg=$("$bin/ebgan-gpu" train --device cuda --iters 1 --out "$d/run" 2>&1)
rc=$?
echo "$msg" | tail -1
[ $rc -ne 0 ] || { echo "FAILED: train --device cuda succeeded without a GPU"; exit 1; }
echo "$msg" | grep -qF -- "$why" || echo "$msg" | grep -q "this build has no CUDA backend" ||
    { echo "FAILED: train's error does not carry the reason '$why'"; exit 1; }
echo "ok"
