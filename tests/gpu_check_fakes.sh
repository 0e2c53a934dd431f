# Sourced by tests/script_gpu_check_*.sh: a made-up GPU machine for scripts/gpu_check.sh, built from small
# scripts (nvidia-smi, the carried gpu_ops and ebgan-gpu, compute-sanitizer), so that the script's own logic
# (preflight, crash isolation, deadlines) runs without a GPU. Every fake invocation is appended to $FAKE_LOG.
# fake_machine DIR: DIR/path (prepend to PATH) and DIR/carry (GPU_CARRY); gpu_ops has the cases
# mem_roundtrip alpha beta gamma delta, and the case named by $FAKE_CRASH (default beta) faults stickily: it and
# every later case of its process fail, as after a real illegal address (with $FAKE_ABORT set the process dies
# right after it instead).
fake_machine() {
    local d=$1
    mkdir -p "$d/path" "$d/carry/bin"
    export FAKE_LOG="$d/invocations.log"
    : >"$FAKE_LOG"
    cat >"$d/path/nvidia-smi" <<'SMI'
#!/usr/bin/env bash
case "$*" in
-L) echo "GPU 0: Fake GPU (UUID: GPU-00000000)" ;;
*--query-gpu*) echo "Fake GPU, 999.99" ;;
*) echo "| NVIDIA-SMI 999.99     Driver Version: 999.99     CUDA Version: 13.0 |" ;;
esac
SMI
    cat >"$d/path/compute-sanitizer" <<'SAN'
#!/usr/bin/env bash
echo "compute-sanitizer|$*" >>"$FAKE_LOG"
if [ "${1:-}" = --help ]; then echo "  --kernel-name <filter>"; exit 0; fi
sleep "${FAKE_SANITIZER_SLEEP:-60}"
echo "========= ERROR SUMMARY: 0 errors"
SAN
    cat >"$d/carry/bin/ebgan-gpu" <<'CLI'
#!/usr/bin/env bash
echo "ebgan-gpu|$*" >>"$FAKE_LOG"
if [ "${1:-}" = devices ] && [ -n "${FAKE_NO_DEVICE:-}" ]; then
    echo "CUDA: driver supports 12.2, runtime 13.0; 0 usable devices"
    echo "ebgan-gpu devices: no usable CUDA GPU: $FAKE_NO_DEVICE" >&2
    exit 1
fi
echo "CUDA: driver supports 13.0, runtime 13.0; 1 usable device"
CLI
    cat >"$d/carry/bin/gpu_ops" <<'OPS'
#!/usr/bin/env bash
echo "${CUDA_LAUNCH_BLOCKING:-}|$*" >>"$FAKE_LOG"
cases=(mem_roundtrip alpha beta gamma delta)
if [ "${1:-}" = --list ]; then printf '%s\n' "${cases[@]}"; exit 0; fi
sel=()
if [ "${1:-}" = --skip ]; then
    for c in "${cases[@]}"; do case ",$2," in *",$c,"*) ;; *) sel+=("$c") ;; esac; done
elif [ -n "${1:-}" ]; then
    sel=("$1")
else
    sel=("${cases[@]}")
fi
poisoned=0 rc=0
for c in "${sel[@]}"; do
    if [ "$c" = "${FAKE_CRASH:-beta}" ] && [ $poisoned = 0 ]; then
        poisoned=1
        if [ "${CUDA_LAUNCH_BLOCKING:-}" = 1 ]; then
            echo "fixture: $c: launch of eb_k_fake_scatter failed: an illegal memory access was encountered" >&2
        else
            echo "fixture: $c: cudaStreamSynchronize failed: an illegal memory access was encountered" >&2
        fi
        printf '%-40s %s\n' "$c" FAILED
        rc=1
        [ -n "${FAKE_ABORT:-}" ] && exit 134 # the process dies: later cases never report
    elif [ $poisoned = 1 ]; then
        echo "fixture: $c: cudaMemcpyAsync failed: an illegal memory access was encountered" >&2
        printf '%-40s %s\n' "$c" FAILED
    else
        printf '%-40s %s\n' "$c" ok
    fi
done
exit $rc
OPS
    chmod +x "$d/path/"* "$d/carry/bin/"*
}

# check COND MESSAGE: fail the test with MESSAGE (and the script's output) unless COND holds
check() {
    if ! eval "$1"; then
        echo "FAILED: $2"
        echo "---- gpu_check output ----"
        echo "${msg:-}"
        exit 1
    fi
}

# fake_setup: a fresh fake machine in a temporary folder $d, removed when the test exits
fake_setup() {
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
    fake_machine "$d"
}
