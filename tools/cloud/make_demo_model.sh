#!/bin/sh
# tools/cloud/make_demo_model.sh - the recipe of the bundled demo model and demo case.
#
# usage: tools/cloud/make_demo_model.sh [--work DIR]
#
# 1. `nnedge synth` draws 150 training cases (seed 1; 10 % trap-only) in nnU-Net's raw layout;
# 2. tools/cloud/train.sh trains nnU-Net v2's `tiny` preset on fold 0 (120 training, 30
#    validation cases) on the CPU and converts the result to models/demo.nne;
# 3. the training log summary goes to models/demo.train.json;
# 4. the demo case (data/demo/) is case DEMO_INDEX of seed 3 (not a training seed), with
#    nnU-Net v2's own prediction of it (tools/cloud/gen_demo_golden.py);
# 5. `nnedge calibrate` writes the INT8 activation ranges, models/demo.calibration.json, from 4
#    cases of seed 7.
# Measure the model on held-out cases with tools/cloud/eval_synth.sh models/demo.nne.
set -eu
WORK=build/demo_train
[ "${1:-}" = --work ] && WORK=$2
EPOCHS=${EPOCHS:-24} ITERS=${ITERS:-80} DEMO_SEED=3 DEMO_INDEX=${DEMO_INDEX:-25}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
make cli
DS=$WORK/raw/Dataset900_SynthStroke
rm -rf "$DS"
build/nnedge synth -n 150 -o "$DS" --seed 1 --trap-only 0.1 -q
tools/cloud/train.sh "$DS" --preset tiny --epochs "$EPOCHS" --iters "$ITERS" --folds 0 \
    --work "$WORK" -o models/demo.nne
RESULT=$WORK/results/Dataset900_SynthStroke/nnUNetTrainerShort__nnUNetPlans__3d_tiny
cp "$RESULT/fold_0/summary.json" models/demo.train.json

rm -rf "$WORK/demo_case"
build/nnedge synth -n "$DEMO_INDEX" -o "$WORK/demo_case" --seed "$DEMO_SEED" -q
id=$(printf 'synth_%04d' "$DEMO_INDEX")
mkdir -p data/demo
cp "$WORK/demo_case/imagesTr/${id}_0000.nii.gz" data/demo/demo_0000.nii.gz
cp "$WORK/demo_case/imagesTr/${id}_0001.nii.gz" data/demo/demo_0001.nii.gz
cp "$WORK/demo_case/labelsTr/${id}.nii.gz" data/demo/demo_gt.nii.gz
cp "$WORK/demo_case/manifest/${id}.json" data/demo/demo_manifest.json
build/venv/bin/python tools/cloud/gen_demo_golden.py "$RESULT" data/demo
# INT8 activation ranges (--precision int8): 4 cases of seed 7, neither training nor demo data
rm -rf "$WORK/calib_cases"
build/nnedge synth -n 4 -o "$WORK/calib_cases" --seed 7 -q
build/nnedge calibrate -m models/demo.nne -i "$WORK/calib_cases/imagesTr" \
    -o models/demo.calibration.json -q
ls -l models/demo.nne models/demo.calibration.json data/demo
