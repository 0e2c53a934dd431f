#!/usr/bin/env bash
# Where a CPU training iteration goes, per op of the table: callgrind's instruction counts (one thread), which
# a busy machine's noise does not move, for bench_train's iteration (bench/PROFILE.md has the results).
# Usage: bench/profile_ops.sh [model ...]   (toy mnist cifar; default toy)
# Env:   BUILD (build), MCMC (K: with --train-mcmc K), OUT (a folder to keep the callgrind files in; default a
#        temp folder). Prints per model: op, instructions per iteration (millions), share of the iteration.
# Callgrind runs ~50x slower than the CPU: toy takes a minute, mnist ~10, cifar ~20 on an idle core.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(toy)
command -v valgrind >/dev/null || { echo "profile_ops: valgrind missing (apt-get install valgrind)" >&2; exit 2; }
[ -x "$BUILD/bench_train" ] || { echo "profile_ops: $BUILD/bench_train missing: build first" >&2; exit 2; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
for m in "${models[@]}"; do
    f="$out/$m${MCMC:+.mcmc$MCMC}.callgrind"
    # the warm-up iteration and one timed iteration, collected inside eb_trainer_iteration only
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 EBGAN_BENCH_STEPS=1 EBGAN_BENCH_MCMC=${MCMC:-0} \
        valgrind --tool=callgrind --toggle-collect=eb_trainer_iteration --callgrind-out-file="$f" \
        "$BUILD/bench_train" cpu "$m" >/dev/null 2>"$f.log" || { cat "$f.log" >&2; exit 1; }
    echo "# $m${MCMC:+ --train-mcmc $MCMC}: $f"
    callgrind_annotate --inclusive=yes --threshold=100 "$f" | python3 -c '
import re, sys
ops = set(re.findall(r"=\s*(eb_cpu_\w+),", open("src/kernels/cpu/cpu_backend.c").read()))
total, per = None, {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*?:?(\w+)(?: \[|$)", line)
    if not m:
        continue
    ir, fn = int(m.group(1).replace(",", "")), m.group(2)
    if fn == "eb_trainer_iteration":
        total = ir
    elif fn in ops:
        per[fn] = per.get(fn, 0) + ir
iters = 2  # warm-up + 1
print("%-34s %14s %8s" % ("op", "Minstr/iter", "share"))
for fn, ir in sorted(per.items(), key=lambda kv: -kv[1]):
    if ir >= 0.001 * total:
        print("%-34s %14.1f %7.1f%%" % (fn[7:], ir / iters / 1e6, 100.0 * ir / total))
rest = total - sum(per.values())
print("%-34s %14.1f %7.1f%%" % ("(host code, not in an op)", rest / iters / 1e6, 100.0 * rest / total))
print("%-34s %14.1f" % ("iteration", total / iters / 1e6))
'
done
