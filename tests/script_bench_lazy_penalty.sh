#!/usr/bin/env bash
# `ebgan-gpu bench --penalty-every K` times whole cycles of the lazy penalty's U-step pattern (K = 4 with 5 U steps
# per iteration: 4 iterations) and names K in its JSON line; K < 1 is a usage error. Skipped without python3.
set -uo pipefail
exe=${EBGAN_BINARY_DIR:?}/ebgan-gpu
command -v python3 >/dev/null 2>&1 || { echo "python3 missing"; exit 77; }
out=$("$exe" bench --preset toy --iters 1 --batch 8 --dim 32 --device cpu --penalty-every 4 2>/dev/null)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "bench exited $rc"; exit 1; }
python3 - "$out" <<'PY' || exit 1
import json, sys
r = json.loads(sys.argv[1].strip().splitlines()[-1])
assert r["penalty_every"] == 4 and r["penalty"] == "score", r
assert r["iters"] == 4, "1 timed iteration asked, a whole cycle of 4 expected, got %r" % r["iters"]
assert r["warmup"] >= 4 or r["warmup"] == -1, r["warmup"]
print("ok")
PY
err=$("$exe" bench --preset toy --penalty-every 0 2>&1 >/dev/null)
rc=$?
echo "$err"
[ $rc -eq 2 ] || { echo "--penalty-every 0 exited $rc, expected 2"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ $err == *"--penalty-every"* ]] || { echo "not one line naming the option"; exit 1; }
echo "ok"
