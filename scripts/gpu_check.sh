#!/usr/bin/env bash
# On a machine with a GPU, after the carry built by scripts/gpu_carry.sh was copied there: every GPU check of the
# project in order of value, under one global deadline, each result appended under $OUT as it arrives, and a
# one-screen summary at the end. A preflight runs first and stops everything with its cause (no GPU, a glibc
# older than the carried binaries need, a library that does not resolve, a driver older than the runtime).
# `bash scripts/gpu_check.sh --plan` prints the steps (no GPU).
# Env: GPU_CHECK_DEADLINE (seconds for the whole script, default 560: fits a 10-minute job with room to copy back),
#      GPU_CHECK_STEPS (space-separated subset of the step names, default all; preflight always runs),
#      GPU_CHECK_BUDGETS (space-separated name:seconds overriding a step's budget), OUT (default out/gpu_check),
#      GPU_CARRY (default .gpucarry), PEAK_TF32_TFLOPS (the MALA fraction's base).
# Exit: 0 every step passed; 1 a step failed or ran out of time; 2 nothing could run (no carry, no GPU, preflight).
set -uo pipefail
cd "$(dirname "$0")/.."

# name:budget_s, in order of value. A step's limit is its budget, capped by the time left before the deadline
# (less RESERVE_S for the summary); a step with under MIN_S left is not started and counts as failed.
PLAN=(
    preflight:25     # carry, glibc, every library resolved, driver and runtime versions, one trivial GPU case
    gpu_ops:60       # op parity against the CPU (exit 77 = FAILURE here: a GPU machine must not skip)
    gpu_mala:35      # MALA chains on the GPU against known laws and the CPU
    gpu_train:60     # graph replay = eager bit for bit, resumed graph run = uninterrupted, losses track the CPU
    gpu_bn_sync:10   # the synchronised batch-norm ops of data parallelism against the CPU
    nccl_train:40    # 1-rank NCCL training (collectives inside the CUDA graph) = the run without a communicator
    demo:70          # the 25gaussians demo trained on the GPU in fp32, its eval against the CPU seeds' spread
    bench:90         # one round of ours (graph on) vs PyTorch paper and lean, toy/mnist/cifar at batch 64
    bench_nograph:25 # ours with --cuda-graph off
    mala_bench:55    # MALA chain-steps/s at 1k, 10k, 100k chains (toy, cifar) and the fraction of peak
    memcheck:70      # compute-sanitizer memcheck on our own kernels (eb_k_*) in gpu_ops
)
DEADLINE=${GPU_CHECK_DEADLINE:-560}
RESERVE_S=8
MIN_S=5
# Dense TF32 tensor-core peak of an H200 SXM (datasheet, TFLOP/s, without sparsity): the MALA fraction's base.
PEAK_TF32_TFLOPS=${PEAK_TF32_TFLOPS:-494.7}
# gpu_ops cases left out of memcheck: the deliberate out-of-memory case, and the cuDNN algorithm searches
# (cudnnFind* runs every algorithm, each instrumented, for minutes, and none of their kernels is ours)
MEMCHECK_SKIP=mem_alloc_oom_message,conv2d_search_mode_keeps_the_output,conv_algorithms_are_reproducible_and_recorded

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
# a string as the body of a JSON string
jstr() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

[ -x "$C/bin/gpu_ops" ] || { fail "no GPU binaries in $C: run 'bash scripts/gpu_carry.sh' on the build machine and copy $C here"; exit 2; }
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >>"$log" 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    fail "no GPU: nvidia-smi is missing or lists no GPU on $(hostname); nothing was checked"
    exit 2
fi

# cuDNN, cuBLAS and NCCL may live in the Python packages of the machine's PyTorch
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
budget_of() {
    local o
    for o in ${GPU_CHECK_BUDGETS:-}; do [ "${o%%:*}" = "$1" ] && { echo "${o##*:}"; return; }; done
    for p in "${PLAN[@]}"; do [ "${p%%:*}" = "$1" ] && echo "${p##*:}"; done
}
want() { [ "$1" = preflight ] || [ -z "${GPU_CHECK_STEPS:-}" ] && return 0; case " $GPU_CHECK_STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
record() { # name rc seconds note
    printf '{"step":"%s","rc":%d,"seconds":%s,"note":"%s"}\n' "$1" "$2" "$3" "$(jstr "$4")" >>"$sum"
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
        return 1
    fi
    NOTE=""
    t0=$(date +%s.%N)
    "$fn"
    local rc=$?
    t1=$(date +%s.%N)
    [ $rc -ne 0 ] && STATUS=1
    record "$name" "$rc" "$(awk "BEGIN {printf \"%.1f\", $t1 - $t0}")" "$NOTE"
    return $rc
}

# ---- test binaries: crash isolation ----
# All cases run in one process first. A sticky CUDA error (an illegal address, say) makes every later case of
# that process fail too, so when the process fails: the first case not reported ok is the culprit; it runs
# again alone under CUDA_LAUNCH_BLOCKING=1, so that the error names the kernel that faulted, and the cases
# after it that were not ok run again together in one new process; repeated until a process passes or the
# step's time is spent. Exit 77 (skipped) counts as a failure: on a GPU machine a missing driver must not pass.
declare -A V ERR   # verdict and first error line of each case of the current binary

# group BIN LIMIT CASE...: one process running exactly these cases (the others of --list skipped); sets V, GRC
group() {
    local bin=$1 lim=$2 out skip=() c want_c
    shift 2
    local -A in_group=()
    for c in "$@"; do in_group[$c]=1; unset "V[$c]"; done
    for c in "${ALL[@]}"; do [ -n "${in_group[$c]:-}" ] || skip+=("$c"); done
    out=$(mktemp)
    echo "==== $(date -u +%T) [limit ${lim}s] $bin: $# case(s) in one process" >>"$log"
    if [ ${#skip[@]} -eq 0 ]; then
        timeout -k 5 "$lim" "$C/bin/$bin" 2>&1 | tee -a "$log" >"$out"
    else
        timeout -k 5 "$lim" "$C/bin/$bin" --skip "$(IFS=,; echo "${skip[*]}")" 2>&1 | tee -a "$log" >"$out"
    fi
    GRC=${PIPESTATUS[0]}
    local cname verdict
    while read -r cname verdict; do
        [ -n "${in_group[$cname]:-}" ] || continue
        case $verdict in skipped) V[$cname]="skipped (counts as FAILED)" ;; *) V[$cname]=$verdict ;; esac
    done < <(grep -E '^[A-Za-z0-9_]+ +(ok|FAILED|skipped)$' "$out")
    for want_c in "$@"; do
        [ -n "${V[$want_c]:-}" ] || V[$want_c]="not reported (process rc $GRC)"
    done
    rm -f "$out"
}

# alone BIN CASE LIMIT: the case by itself, synchronous launches; its verdict and first error line
alone() {
    local bin=$1 c=$2 lim=$3 out rc before=${V[$2]:-not reported}
    out=$(mktemp)
    echo "==== $(date -u +%T) [limit ${lim}s] alone, CUDA_LAUNCH_BLOCKING=1: $bin $c" >>"$log"
    CUDA_LAUNCH_BLOCKING=1 timeout -k 5 "$lim" "$C/bin/$bin" "$c" >"$out" 2>&1
    rc=$?
    cat "$out" >>"$log"
    ERR[$c]=$(grep -m1 -iE 'fail|error|illegal|fault' "$out" | grep -vE '^[A-Za-z0-9_]+ +FAILED$' | cut -c1-300)
    rm -f "$out"
    case $rc in
    0) V[$c]="FAILED in sequence ($before), ok alone" ;;
    77) V[$c]="skipped (counts as FAILED)" ;;
    124 | 137) V[$c]="timeout alone" ;;
    *) V[$c]=FAILED ;;
    esac
}

tests_of() {
    local bin=$1 end first_rc=-1 c x l n_ok=0 n_bad=0 rounds=0
    end=$(($(date +%s) + LIM))
    V=(); ERR=()
    mapfile -t ALL < <("$C/bin/$bin" --list)
    local pending=("${ALL[@]}")
    while [ ${#pending[@]} -gt 0 ]; do
        l=$((end - $(date +%s)))
        [ "$l" -ge 2 ] || break
        group "$bin" "$l" "${pending[@]}"
        rounds=$((rounds + 1))
        [ "$first_rc" -lt 0 ] && first_rc=$GRC
        [ "$GRC" -eq 0 ] && break
        x=""
        for c in "${pending[@]}"; do [ "${V[$c]:-}" = ok ] || { x=$c; break; }; done
        if [ -z "$x" ]; then # every case passed, yet the process failed (at exit, say)
            NOTE_EXTRA="; the process failed (rc $GRC) after every case passed"
            break
        fi
        local rest=() after=0
        for c in "${pending[@]}"; do
            [ "$after" -eq 1 ] && [ "${V[$c]:-}" != ok ] && rest+=("$c")
            [ "$c" = "$x" ] && after=1
        done
        l=$((end - $(date +%s)))
        if [ "$l" -ge 2 ]; then alone "$bin" "$x" "$l"; else V[$x]="${V[$x]:-not reported}, not rerun: deadline"; fi
        pending=("${rest[@]}")
    done
    for c in "${ALL[@]}"; do
        local v=${V[$c]:-not run: deadline}
        printf '{"binary":"%s","case":"%s","verdict":"%s","error":"%s"}\n' "$bin" "$c" "$(jstr "$v")" \
            "$(jstr "${ERR[$c]:-}")" >>"$cases"
        if [ "$v" = ok ]; then n_ok=$((n_ok + 1)); else n_bad=$((n_bad + 1)); fi
    done
    NOTE="$n_ok ok, $n_bad not ok (first process rc $first_rc, $rounds process(es))${NOTE_EXTRA:-}"
    NOTE_EXTRA=""
    [ "$n_bad" -eq 0 ] && [ "$first_rc" -eq 0 ]
}

# ---- preflight: every cause of "nothing works" named within seconds ----
do_preflight() {
    local f bins=() libs=() missing="" need have
    for f in "$C"/bin/* "$C"/lib/*; do [ -f "$f" ] && bins+=("$f"); done
    # glibc: the newest GLIBC_x.y symbol version any carried file needs, against the machine's
    need=$(cat "$C/glibc_needed" 2>/dev/null)
    if command -v objdump >/dev/null; then
        need=$( { echo "$need"; for f in "${bins[@]}"; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*'; done; } |
            grep . | sed 's/^GLIBC_//' | sort -V | tail -1)
    else
        need=${need#GLIBC_}
    fi
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    echo "preflight: glibc here ${have:-unknown}, carried binaries need ${need:-nothing versioned}" | tee -a "$log"
    if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | tail -1)" != "$have" ]; then
        NOTE="glibc $have here, the carried binaries need GLIBC_$need: build the carry on a machine with glibc <= $have"
        return 1
    fi
    # every NEEDED library of every carried binary resolves (with the carry's and PyTorch's library folders)
    for f in "${bins[@]}"; do
        local nf
        nf=$(ldd "$f" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
        [ -n "$nf" ] && missing+="${f#"$C"/}: ${nf% }; "
    done
    if [ -n "$missing" ]; then
        echo "preflight: unresolved libraries: $missing" >>"$log"
        NOTE="libraries not found: ${missing%; }"
        return 1
    fi
    # driver and runtime: the runtime's own answer (a driver older than the runtime reads differently from no device)
    local smi
    smi=$(nvidia-smi 2>/dev/null | grep -o 'Driver Version: [0-9.]*\|CUDA Version: [0-9.]*' | tr '\n' ' ')
    echo "preflight: nvidia-smi: $smi" >>"$log"
    if [ -x "$C/bin/ebgan-gpu" ]; then
        run 10 "$C/bin/ebgan-gpu" devices
        if [ "$RC" -ne 0 ]; then
            NOTE="no usable CUDA GPU for our binaries: $(grep -m1 'no usable CUDA GPU' "$log" | sed 's/.*no usable CUDA GPU: //' | cut -c1-300) (nvidia-smi: $smi)"
            return 1
        fi
    fi
    # one trivial GPU case: a device allocation, an upload and a download
    run 15 "$C/bin/gpu_ops" mem_roundtrip
    if [ "$RC" -ne 0 ]; then
        local why
        why=$(tail -n 40 "$log" | grep -m1 -E 'skipped|failed|error' | cut -c1-300)
        NOTE="the trivial GPU case (gpu_ops mem_roundtrip) failed, rc $RC: $why"
        return 1
    fi
    # versions as one JSON line of bench.jsonl: GPU, driver, commit, PyTorch's CUDA and cuDNN
    local gpu
    gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
    timeout 10 python3 - "$gpu" "$(cat "$C/commit" 2>/dev/null || git rev-parse HEAD 2>/dev/null)" >>"$bench" 2>>"$log" <<'EOF'
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
    NOTE="$gpu; $smi; glibc $have (needs ${need:-any})"
    return 0
}
do_gpu_ops() { tests_of gpu_ops; }
do_gpu_mala() { tests_of gpu_mala; }
do_gpu_train() { tests_of gpu_train; }
do_gpu_bn_sync() { tests_of gpu_bn_sync; }
do_nccl_train() { export OUT; tests_of gpu_dist; } # gpu_dist writes its image file under $OUT

# The demo in strict fp32 (the CPU computes in float32 without TF32 rounding), judged against the spread of the
# CPU's own seeds (gpu_carry.sh trains 2-3 of them): the GPU's run is another seed's worth of rounding, so it
# agrees when each number lies within the CPU seeds' range widened by that range (at least 1 mode, 0.02 of the
# high-quality fraction).
do_demo() {
    local d=/tmp/ebgan-demo-gpu end
    end=$(($(date +%s) + LIM))
    rm -rf "$d"
    run "$LIM" "$C/bin/ebgan-gpu" demo --device cuda --precision fp32 --progress 0 --out "$d"
    [ "$RC" -eq 0 ] || { NOTE="training failed (rc $RC)"; return 1; }
    cp "$d/samples.png" "$OUT/demo_gpu_samples.png" 2>/dev/null
    local l=$((end - $(date +%s)))
    [ "$l" -ge 2 ] || { NOTE="no time left for eval"; return 1; }
    run "$l" "$C/bin/ebgan-gpu" eval --run "$d"
    [ "$RC" -eq 0 ] || { NOTE="eval failed (rc $RC)"; return 1; }
    NOTE=$(python3 scripts/demo_verdict.py "$d/eval.json" "$C/cpu_demo_eval.jsonl")
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
    [ "$RC" -eq 0 ] || NOTE="bench_mala exit $RC: measured nothing or failed"
    [ "$RC" -eq 0 ]
}
# Only our own kernels are instrumented (their names start with eb_k_): cuBLAS's and cuDNN's run at full speed.
# API-error reports off: only real memory errors fail it (the tests provoke API errors on purpose).
do_memcheck() {
    if ! command -v compute-sanitizer >/dev/null; then NOTE="compute-sanitizer not on the PATH"; return 1; fi
    local filter=(--kernel-name kns=eb_k_)
    compute-sanitizer --help 2>/dev/null | grep -q -- '--kernel-name' || filter=(--filter kns=eb_k_)
    run "$LIM" compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 "${filter[@]}" \
        "$C/bin/gpu_ops" --skip "$MEMCHECK_SKIP"
    case $RC in
    124 | 137)
        NOTE="memcheck: killed at the deadline (${LIM} s) before it finished"
        return 124
        ;;
    *) NOTE=$(grep -E 'ERROR SUMMARY' "$log" | tail -1) ;;
    esac
    [ -n "$NOTE" ] || NOTE="memcheck: exit $RC without an error summary"
    [ "$RC" -eq 0 ]
}

echo "gpu_check: deadline ${DEADLINE}s, results under $OUT" | tee -a "$log"
if ! step preflight do_preflight; then
    fail "preflight failed, nothing else was run: $NOTE"
    echo "==== summary ($(($(date +%s) - T0)) s of ${DEADLINE}) ====" | tee -a "$log"
    echo "preflight FAILED: $NOTE" | tee -a "$log"
    exit 2
fi
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
    bad=$(grep -v '"verdict":"ok"' "$cases" | python3 -c 'import json,sys; print("\n".join("  %s.%s: %s%s" % (r["binary"], r["case"], r["verdict"], " | " + r["error"] if r.get("error") else "") for r in map(json.loads, sys.stdin)))')
    [ -n "$bad" ] && printf 'test cases not ok:\n%s\n' "$bad"
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
