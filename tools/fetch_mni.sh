#!/bin/sh
# tools/fetch_mni.sh - fetches the MNI ICBM152 2009a (symmetric) T1, GM and WM maps that the
# nilearn wheel on PyPI ships, for `nnedge synth --anatomy DIR` (docs/SYNTH.md).
#
# usage: tools/fetch_mni.sh [DIR]        (default DIR: build/mni)
#
# 1. `pip download nilearn --no-deps` into a temporary folder (build/venv's pip if present,
#    else python3 -m pip); nothing is installed.
# 2. The three maps are taken out of the wheel (a zip) from nilearn/datasets/data/:
#      mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz  -> DIR/mni_t1.nii.gz
#      mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz  -> DIR/mni_gm.nii.gz
#      mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz  -> DIR/mni_wm.nii.gz
# 3. DIR/SOURCE.json records the wheel (name, sha256), each map's path inside it and its sha256.
# The maps are third-party data: they are never committed (DIR is under build/ by default).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build/mni}
case "$DIR" in -*) sed -n '5p' "$0" | sed 's/^# //' >&2; exit 2 ;; esac

if [ -x "$ROOT/build/venv/bin/pip" ]; then
    PIP="$ROOT/build/venv/bin/pip"
else
    PIP="python3 -m pip"
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fetch_mni.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "fetch_mni: pip download nilearn --no-deps" >&2
$PIP download nilearn --no-deps --only-binary=:all: -d "$TMP" -q
WHEEL=$(ls "$TMP"/nilearn-*.whl 2>/dev/null | head -n 1)
[ -n "$WHEEL" ] || { echo "fetch_mni: no nilearn wheel downloaded" >&2; exit 1; }

SRC=nilearn/datasets/data
mkdir -p "$DIR"
for t in t1 gm wm; do
    member=$SRC/mni_icbm152_${t}_tal_nlin_sym_09a_converted.nii.gz
    unzip -p "$WHEEL" "$member" >"$TMP/mni_$t.nii.gz" ||
        { echo "fetch_mni: $member not in $(basename "$WHEEL")" >&2; exit 1; }
    [ -s "$TMP/mni_$t.nii.gz" ] || { echo "fetch_mni: $member is empty" >&2; exit 1; }
    mv "$TMP/mni_$t.nii.gz" "$DIR/mni_$t.nii.gz"
done

sha() { sha256sum "$1" | cut -d ' ' -f 1; }
{
    printf '{\n'
    printf '  "source": "PyPI wheel %s (pip download nilearn --no-deps)",\n' "$(basename "$WHEEL")"
    printf '  "wheel_sha256": "%s",\n' "$(sha "$WHEEL")"
    printf '  "template": "MNI ICBM152 2009a nonlinear symmetric'
    printf ' (McConnell Brain Imaging Centre)",\n'
    printf '  "maps": {\n'
    sep=,
    for t in t1 gm wm; do
        [ $t = wm ] && sep=
        member=$SRC/mni_icbm152_${t}_tal_nlin_sym_09a_converted.nii.gz
        printf '    "mni_%s.nii.gz": {"member": "%s", "sha256": "%s"}%s\n' \
            "$t" "$member" "$(sha "$DIR/mni_$t.nii.gz")" "$sep"
    done
    printf '  }\n}\n'
} >"$TMP/SOURCE.json"
mv "$TMP/SOURCE.json" "$DIR/SOURCE.json"
echo "fetch_mni: wrote $DIR/mni_t1.nii.gz, mni_gm.nii.gz, mni_wm.nii.gz, SOURCE.json" >&2
