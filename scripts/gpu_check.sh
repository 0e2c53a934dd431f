#!/usr/bin/env bash
# On the device machine, in one call of the device tool with .gpucarry/ carried (scripts/gpu_carry.sh): every
# GPU check of the project in order of value, under one global deadline, each result appended under $OUT as it
# arrives, and a one-screen summary at the end. `bash scripts/gpu_check.sh --plan` prints the steps (no GPU).
# Env: GPU_CHECK_DEADLINE (seconds for the whole script, default 560, inside the tool's 600 per command),
#      GPU_CHECK_STEPS (space-separated subset of the step names, default all), OUT (default out/gpu_check),
#      GPU_CARRY (default .gpucarry).
# Exit: 0 every step passed; 1 a step failed or ran out of time; 2 nothing could run (no carry, no GPU).
set -uo pipefail
cd "$(dirname "$0")/.."

# name:budget_s, in order of value. A step's limit is its budget, capped by the time left before the deadline
# (less RESERVE_S for the summary); a step with under MIN_S left is not started and counts as failed.
PLAN=(
    env:15           # nvidia-smi, driver, CUDA/cuDNN/PyTorch versions: one JSON line
    gpu_ops:60       # op parity against the CPU (exit 77 = FAILURE here: a GPU machine must not skip)
    gpu_mala:35      # MALA chains on the GPU against known laws and the CPU
    gpu_train:60     # graph replay = eager bit for bit, resumed graph run = uninterrupted, losses track the CPU
    gpu_bn_sync:10   # the synchronised batch-norm ops of data parallelism against the CPU
    nccl_train:40    # 1-rank NCCL training (collectives inside the CUDA graph) = the run without a communicator
    demo:70          # the 25gaussians demo trained on the GPU, its eval against the carried CPU verdict
    bench:100        # one round of ours (graph on) vs PyTorch paper and lean, toy/mnist/cifar at batch 64
    bench_nograph:30 # ours with --cuda-graph off
    mala_bench:60    # MALA chain-steps/s at 1k, 10k, 100k chains (toy, cifar) and the fraction of peak
    memcheck:70      # compute-sanitizer memcheck on gpu_ops, the deliberate OOM case left out
)
DEADLINE=${GPU_CHECK_DEADLINE:-560}
RESERVE_S=8
MIN_S=5
# Dense TF32 tensor-core peak of an H200 SXM (datasheet, TFLOP/s, without sparsity): the MALA fraction's base.
PEAK_TF32_TFLOPS=${PEAK_TF32_TFLOPS:-494.7}

if [ "${1:-}" = --plan ]; then
    total=0
    printf '%-14s %8s\n' step budget_s
    for p in "${PLAN[@]}"; do
        printf '%-14s %8d\n' "${p%%:*}" "${p##*:}"
        total=$((total + ${p##*:}))
    done
    printf '%-14s %8d  (deadline %d s, %d s kept for the summary; every limit is capped by the time left)\n' \
        total "$total" "$DEADLINE" "$RESERVE_S"
    [ $((total + RESERVE_S)) -le "$DEADLINE" ] || { echo "gpu_check: the plan exceeds the deadline" >&2; exit 1; }
    exit 0
fi

T0=$(date +%s)
C=${GPU_CARRY:-.gpucarry}
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
log="$OUT/gpu_check.log"      # everything every step printed
sum="$OUT/summary.jsonl"      # one line per step
cases="$OUT/cases.jsonl"      # one line per test case
bench="$OUT/bench.jsonl"      # every JSON line the benchmarks printed, as they print them
: >"$log"; : >"$sum"; : >"$cases"; : >"$bench"
fail() { echo "gpu_check: $*" | tee -a "$log" >&2; }

[ -x "$C/bin/gpu_ops" ] || { fail "no GPU binaries in $C: run 'bash scripts/gpu_carry.sh' here and carry $C"; exit 2; }
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >>"$log" 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    fail "no GPU: nvidia-smi is missing or lists no GPU on $(hostname); nothing was checked"
    exit 2
fi

# cuDNN, cuBLAS and NCCL of the image live in its Python packages
pylibs=$(python3 -c '
import importlib, os
out = []
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.nccl", "nvidia.cuda_runtime", "nvidia.cuda_nvrtc", "nvidia.nvjitlink", "nvidia.cu13"):
    try:
        for p in importlib.import_module(m).__path__:
            for sub in ("lib", "lib64"):
                if os.path.isdir(os.path.join(p, sub)): out.append(os.path.join(p, sub))
    except Exception:
        pass
print(":".join(out))' 2>/dev/null)
export LD_LIBRARY_PATH="$PWD/$C/lib:${pylibs}:${LD_LIBRARY_PATH:-}"

left() { echo $((DEADLINE - RESERVE_S - ($(date +%s) - T0))); }
budget_of() { for p in "${PLAN[@]}"; do [ "${p%%:*}" = "$1" ] && echo "${p##*:}"; done; }
want() { [ -z "${GPU_CHECK_STEPS:-}" ] && return 0; case " $GPU_CHECK_STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
record() { # name rc seconds note
    printf '{"step":"%s","rc":%d,"seconds":%s,"note":"%s"}\n' "$1" "$2" "$3" "$4" >>"$sum"
    printf '%-14s rc=%-3d %6ss  %s\n' "$1" "$2" "$3" "$4"
}
# run LIMIT CMD...: output to the log (and JSON lines to bench.jsonl as they come); sets RC
run() {
    local lim=$1
    shift
    echo "==== $(date -u +%T) [limit ${lim}s] $*" >>"$log"
    timeout -k 5 "$lim" "$@" 2>&1 | tee -a "$log" | { grep --line-buffered '^{' >>"$bench" || true; }
    RC=${PIPESTATUS[0]}
}
# limit NAME: the step's limit now (its budget capped by the time left), or 0 when too little is left
limit() {
    local b l
    b=$(budget_of "$1"); l=$(left)
    [ "$l" -lt "$b" ] && b=$l
    [ "$b" -lt "$MIN_S" ] && b=0
    echo "$b"
}
STATUS=0
# step NAME FUNCTION: runs FUNCTION with LIM set, records rc and time
step() {
    local name=$1 fn=$2 t0 t1
    want "$name" || return 0
    LIM=$(limit "$name")
    if [ "$LIM" -eq 0 ]; then
        record "$name" 124 0 "not started: deadline"
        STATUS=1
        return 0
    fi
    NOTE=""
    t0=$(date +%s.%N)
    "$fn"
    local rc=$?
    t1=$(date +%s.%N)
    [ $rc -ne 0 ] && STATUS=1
    record "$name" "$rc" "$(awk "BEGIN {printf \"%.1f\", $t1 - $t0}")" "$NOTE"
}

# A test binary: all cases in one process; if that fails (a sticky CUDA error ends a process's usefulness),
# every case it did not report ok runs again alone, one process each, so one failure hides no other.
# Exit 77 (skipped) counts as a failure: on the GPU machine a missing driver or library must not pass.
tests_of() {
    local bin=$1 end out rc
    end=$(($(date +%s) + LIM))
    out=$(mktemp)
    timeout -k 5 "$LIM" "$C/bin/$bin" 2>&1 | tee -a "$log" >"$out"
    rc=${PIPESTATUS[0]}
    local -A seen=()
    local cname verdict
    while read -r cname verdict; do
        [ -n "$cname" ] || continue
        seen[$cname]=$verdict
    done < <(grep -E '^[A-Za-z0-9_]+ +(ok|FAILED|skipped)$' "$out")
    rm -f "$out"
    local n_ok=0 n_bad=0
    for c in $("$C/bin/$bin" --list); do
        local v=${seen[$c]:-}
        if [ "$rc" -ne 0 ] && [ "$v" != ok ]; then
            local l=$((end - $(date +%s)))
            if [ "$l" -lt 2 ]; then
                v="not run: deadline"
            else
                echo "==== alone: $bin $c" >>"$log"
                timeout -k 5 "$l" "$C/bin/$bin" "$c" >>"$log" 2>&1
                case $? in 0) v=ok ;; 77) v="skipped (counts as FAILED)" ;; 124 | 137) v="timeout" ;; *) v=FAILED ;; esac
            fi
        fi
        [ -z "$v" ] && v="not reported"
        [ "$v" = skipped ] && v="skipped (counts as FAILED)"
        printf '{"binary":"%s","case":"%s","verdict":"%s"}\n' "$bin" "$c" "$v" >>"$cases"
        if [ "$v" = ok ]; then n_ok=$((n_ok + 1)); else n_bad=$((n_bad + 1)); fi
    done
    NOTE="$n_ok ok, $n_bad not ok (whole-process rc $rc)"
    [ "$n_bad" -eq 0 ] && [ "$rc" -eq 0 ]
}

do_env() {
    run "$LIM" nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
    local gpu
    gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
    python3 - "$gpu" "$(git rev-parse HEAD 2>/dev/null || cat "$C/commit" 2>/dev/null)" >>"$bench" 2>>"$log" <<'EOF'
import json, sys, datetime
env = {"env": "gpu_check", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "gpu_and_driver": sys.argv[1], "commit": sys.argv[2]}
try:
    import torch
    env.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_cudnn=torch.backends.cudnn.version())
except Exception as e:
    env["torch"] = "not importable: %s" % e
print(json.dumps(env))
EOF
    NOTE="$gpu"
    [ "$RC" -eq 0 ]
}
do_gpu_ops() { tests_of gpu_ops; }
do_gpu_mala() { tests_of gpu_mala; }
do_gpu_train() { tests_of gpu_train; }
do_gpu_bn_sync() { tests_of gpu_bn_sync; }
do_nccl_train() { export OUT; tests_of gpu_dist; } # gpu_dist writes its image file under $OUT

do_demo() {
    local d=/tmp/ebgan-demo-gpu end
    end=$(($(date +%s) + LIM))
    rm -rf "$d"
    run "$LIM" "$C/bin/ebgan-gpu" demo --device cuda --progress 0 --out "$d"
    [ "$RC" -eq 0 ] || { NOTE="training failed (rc $RC)"; return 1; }
    cp "$d/samples.png" "$OUT/demo_gpu_samples.png" 2>/dev/null
    local l=$((end - $(date +%s)))
    [ "$l" -ge 2 ] || { NOTE="no time left for eval"; return 1; }
    run "$l" "$C/bin/ebgan-gpu" eval --run "$d"
    [ "$RC" -eq 0 ] || { NOTE="eval failed (rc $RC)"; return 1; }
    # agreement: modes covered within 1 of the CPU's, high-quality fraction within 0.1 (seed noise of a
    # 6000-iteration run is about that; the two devices round differently, so the runs are not identical)
    NOTE=$(python3 - "$d/eval.json" "$C/cpu_demo_eval.json" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))
try:
    c = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
except Exception:
    print("gpu modes %s hq %.3f; no CPU verdict carried" % (g["modes_covered"], g["high_quality_fraction"]))
    sys.exit(1)
ok = abs(g["modes_covered"] - c["modes_covered"]) <= 1 and abs(g["high_quality_fraction"] - c["high_quality_fraction"]) <= 0.1
print("gpu modes %s hq %.3f | cpu modes %s hq %.3f | %s" % (g["modes_covered"], g["high_quality_fraction"],
      c["modes_covered"], c["high_quality_fraction"], "agree" if ok else "DISAGREE"))
sys.exit(0 if ok else 1)
EOF
)
}

do_bench() {
    run "$LIM" env BUILD="$C/bin" BATCH=64 REPEAT=1 bash scripts/bench_compare.sh cuda toy mnist cifar
    NOTE="ratio table in the log and the summary"
    [ "$RC" -eq 0 ]
}
do_bench_nograph() {
    run "$LIM" env EBGAN_BENCH_BATCH=64 EBGAN_BENCH_GRAPH=off "$C/bin/bench_train" cuda toy mnist cifar
    [ "$RC" -eq 0 ]
}
do_mala_bench() {
    run "$LIM" "$C/bin/bench_mala" 3 cuda
    [ "$RC" -eq 0 ]
}
do_memcheck() {
    if ! command -v compute-sanitizer >/dev/null; then NOTE="compute-sanitizer not on the PATH"; return 1; fi
    # API-error reports off: only real memory errors fail it (the tests provoke API errors on purpose)
    run "$LIM" compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 \
        "$C/bin/gpu_ops" --skip mem_alloc_oom_message
    NOTE=$(grep -E 'ERROR SUMMARY' "$log" | tail -1)
    [ "$RC" -eq 0 ]
}

echo "gpu_check: deadline ${DEADLINE}s, results under $OUT" | tee -a "$log"
step env do_env
step gpu_ops do_gpu_ops
step gpu_mala do_gpu_mala
step gpu_train do_gpu_train
step gpu_bn_sync do_gpu_bn_sync
step nccl_train do_nccl_train
step demo do_demo
step bench do_bench
step bench_nograph do_bench_nograph
step mala_bench do_mala_bench
step memcheck do_memcheck

# ---- the one-screen summary ----
{
    echo
    echo "==== summary ($(($(date +%s) - T0)) s of ${DEADLINE}) ===="
    column -t -s $'\t' < <(python3 - "$sum" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print("%s\trc %d\t%ss\t%s" % (r["step"], r["rc"], r["seconds"], r["note"]))
EOF
)
    bad=$(grep -v '"verdict":"ok"' "$cases" | python3 -c 'import json,sys; print(" ".join("%s.%s=%s" % (r["binary"], r["case"], r["verdict"]) for r in map(json.loads, sys.stdin)))')
    [ -n "$bad" ] && echo "test cases not ok: $bad"
    python3 - "$bench" "$PEAK_TF32_TFLOPS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peak = float(sys.argv[2])
ours = {(r["model"], r.get("cuda_graph")): r["it_per_s"] for r in rows if r.get("impl") == "ebgan"}
torch = {(r["model"], r.get("variant")): r["it_per_s"] for r in rows if r.get("impl") == "pytorch"}
if ours:
    print("it/s at batch 64   graph on   graph off   torch paper   torch lean   on/paper   on/lean")
    for m in ("toy", "mnist", "cifar"):
        on, off = ours.get((m, True)), ours.get((m, False))
        tp, tl = torch.get((m, "paper")), torch.get((m, "lean"))
        f = lambda v: "%10.1f" % v if v else "%10s" % "-"
        q = lambda a, b: "%9.2f" % (a / b) if a and b else "%9s" % "-"
        print("%-17s %s  %s  %s  %s  %s %s" % (m, f(on), f(off), f(tp), f(tl), q(on, tp), q(on, tl)))
for r in rows:
    if r.get("bench") == "mala" and "chain_steps_per_s" in r:
        print("MALA %-5s %7d chains: %12.0f chain-steps/s, %.2f TFLOP/s = %.1f%% of %.0f TFLOP/s dense TF32 (%s)" % (
            r["model"], r["chains"], r["chain_steps_per_s"], r["tflop_per_s"], 100 * r["tflop_per_s"] / peak, peak,
            r["precision"]))
EOF
    echo "gpu_check: $( [ $STATUS -eq 0 ] && echo 'every step passed' || echo 'FAILURES above') (logs: $log)"
} | tee -a "$log"
exit $STATUS
