#!/bin/sh
# tools/cloud/train.sh - the cloud step: nnU-Net v2 plans, preprocesses and trains on a dataset
# in nnU-Net's raw layout, then nnedge converts the result for the edge.
#
# usage: tools/cloud/train.sh DATASET_DIR [--preset tiny|3d_fullres] [--epochs N] [--iters N]
#                             [--folds F[,F...]] [--device cpu|cuda] [--work DIR] [-o MODEL.nne]
#
# DATASET_DIR is nnU-Net's raw folder (DatasetNNN_Name with imagesTr/, labelsTr/, dataset.json),
# e.g. from `nnedge synth` or `nnedge dataset isles22`. nnU-Net v2 runs from PyPI in the
# virtualenv build/venv (created and filled on first use). Work files go to
# DIR (default build/cloud): DIR/preprocessed, DIR/results. See docs/TRAINING.md.
set -eu

usage() {
    sed -n '4,6p' "$0" | sed 's/^# //' >&2
    exit 2
}

[ $# -ge 1 ] || usage
DATASET_DIR=$1
shift
PRESET=tiny EPOCHS=24 ITERS=80 FOLDS=0 DEVICE=cpu WORK=build/cloud OUT=
while [ $# -gt 0 ]; do
    case "$1" in
    --preset) PRESET=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --folds) FOLDS=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -o | --output) OUT=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "train.sh: unknown option $1" >&2; usage ;;
    esac
done
case "$PRESET" in tiny) CONFIG=3d_tiny ;; 3d_fullres) CONFIG=3d_fullres ;;
*) echo "train.sh: --preset must be tiny or 3d_fullres" >&2; exit 2 ;; esac
case "$DEVICE" in cpu | cuda) ;; *) echo "train.sh: --device must be cpu or cuda" >&2; exit 2 ;; esac

DATASET_DIR=$(cd "$DATASET_DIR" && pwd) || { echo "train.sh: no folder $DATASET_DIR" >&2; exit 2; }
NAME=$(basename "$DATASET_DIR")
ID=$(echo "$NAME" | sed -n 's/^Dataset\([0-9][0-9][0-9]\)_.*/\1/p')
if [ -z "$ID" ]; then
    echo "train.sh: $NAME is not named DatasetNNN_Name as nnU-Net requires" >&2
    exit 2
fi
for f in dataset.json imagesTr labelsTr; do
    [ -e "$DATASET_DIR/$f" ] || { echo "train.sh: $DATASET_DIR/$f is missing" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=$ROOT/build/venv
if ! "$VENV/bin/python" -c 'import nnunetv2' 2>/dev/null; then
    echo "train.sh: installing nnU-Net v2 into $VENV (PyPI)" >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet nnunetv2
fi
mkdir -p "$WORK/preprocessed" "$WORK/results"
WORK=$(cd "$WORK" && pwd)
export nnUNet_raw="$(dirname "$DATASET_DIR")"
export nnUNet_preprocessed="$WORK/preprocessed"
export nnUNet_results="$WORK/results"
export nnUNet_n_proc_DA="${nnUNet_n_proc_DA:-2}"
export nnUNet_compile=f
export nnUNet_extTrainer="$ROOT/tools/cloud/trainers"
NP=$(nproc 2>/dev/null || echo 2)
PATH=$VENV/bin:$PATH
export PATH

echo "== plan ($NAME, preset $PRESET)"
nnUNetv2_extract_fingerprint -d "$ID" -np "$NP" --verify_dataset_integrity
nnUNetv2_plan_experiment -d "$ID"
PLANS=$nnUNet_preprocessed/$NAME/nnUNetPlans.json
if [ "$PRESET" = tiny ]; then
    python "$ROOT/tools/cloud/tiny_plans.py" "$PLANS"
fi
echo "== preprocess ($CONFIG)"
nnUNetv2_preprocess -d "$ID" -c "$CONFIG" -np "$NP"

FOLD_LIST=$(echo "$FOLDS" | tr ',' ' ')
for F in $FOLD_LIST; do
    echo "== train fold $F ($EPOCHS epochs x $ITERS iterations, $DEVICE)"
    python "$ROOT/tools/cloud/train.py" "$ID" "$CONFIG" "$F" --epochs "$EPOCHS" --iters "$ITERS" \
        --device "$DEVICE"
done
RESULT=$nnUNet_results/$NAME/nnUNetTrainerShort__nnUNetPlans__$CONFIG
for F in $FOLD_LIST; do
    python "$ROOT/tools/cloud/summarize.py" "$RESULT/fold_$F" --out "$RESULT/fold_$F/summary.json" \
        --extra "preset=$PRESET" --extra "dataset=$NAME"
done

[ -n "$OUT" ] || OUT=$WORK/$NAME.$CONFIG.nne
[ -x "$ROOT/build/nnedge" ] || make -C "$ROOT" cli
mkdir -p "$(dirname "$OUT")"
echo "== convert -> $OUT"
"$ROOT/build/nnedge" convert "$RESULT" -c "$CONFIG" -f "$FOLDS" -o "$OUT"
echo "results: $RESULT"
echo "model:   $OUT"
