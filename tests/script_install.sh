#!/usr/bin/env bash
# `cmake --install BUILD --prefix DIR` puts ebgan-gpu in DIR/bin and the SLURM job scripts in
# DIR/share/ebgan-gpu/slurm; the installed binary runs (help, a one-iteration bench) on the same OpenBLAS build
# as the built one.
set -uo pipefail
build=${EBGAN_BINARY_DIR:?}
cmake=${EBGAN_CMAKE:-cmake}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; rm -f "$prefix.log"; exit 1; }
rm -f "$prefix.log"
exe=$prefix/bin/ebgan-gpu
[ -x "$exe" ] || { echo "no executable $exe"; exit 1; }
for f in train.sbatch sample.sbatch; do
    [ -x "$prefix/share/ebgan-gpu/slurm/$f" ] || { echo "no executable $prefix/share/ebgan-gpu/slurm/$f"; exit 1; }
done
"$exe" --help | grep -q "^usage: ebgan-gpu" || { echo "the installed ebgan-gpu --help has no usage line"; exit 1; }
args=(bench --preset toy --dim 16 --batch 8 --iters 1 --device cpu)
mine=$("$exe" "${args[@]}" 2>/dev/null) || { echo "the installed bench failed"; exit 1; }
built=$("$build/ebgan-gpu" "${args[@]}" 2>/dev/null) || { echo "the built bench failed"; exit 1; }
echo "$mine"
blas() { sed -n 's/.*"blas":"\([^"]*\)".*/\1/p'; }
[ -n "$(echo "$mine" | blas)" ] && [ "$(echo "$mine" | blas)" = "$(echo "$built" | blas)" ] ||
    { echo "installed and built binaries load different BLAS builds: '$(echo "$mine" | blas)' vs '$(echo "$built" | blas)'"; exit 1; }
echo ok
