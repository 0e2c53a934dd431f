#!/usr/bin/env bash
# `ebgan-gpu bench` measures the toy preset and prints one JSON line per measurement whose fields a harness
# reads: every number positive, the device, the BLAS core and the versions named. Skipped without python3.
set -uo pipefail
exe=${EBGAN_BINARY_DIR:?}/ebgan-gpu
command -v python3 >/dev/null 2>&1 || { echo "python3 missing"; exit 77; }
out=$("$exe" bench --preset toy --iters 2 --batch 8 --device cpu --repeat 2 2>/dev/null)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "bench exited $rc"; exit 1; }
python3 - "$out" <<'PY'
import json, sys
lines = [l for l in sys.argv[1].splitlines() if l.strip()]
assert len(lines) == 2, "expected one line per --repeat, got %d" % len(lines)
for l in lines:
    r = json.loads(l)
    for k in ("it_per_s", "ms_per_it", "min_ms_per_it", "samples_per_s", "gflop_per_it", "gflop_per_s",
              "peak_rss_mb", "threads", "batch", "iters"):
        assert isinstance(r[k], (int, float)) and r[k] > 0, "%s = %r is not a positive number" % (k, r.get(k))
    assert r["batch"] == 8 and r["iters"] == 2 and r["model"] == "toy" and r["device"] == "cpu", r
    assert r["min_ms_per_it"] <= r["ms_per_it"] * (1 + 1e-9), "the best iteration is slower than the mean"
    for k in ("blas_core", "blas", "compiler", "cpu"):
        assert isinstance(r[k], str) and r[k], "%s is empty" % k
    assert isinstance(r["commit"], str), "commit is not a string"
print("ok")
PY
