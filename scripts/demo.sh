#!/bin/sh
# demo.sh NNEDGE - nnedge end to end on bundled files, no Python and no GPU:
#  1. the bundled stroke model (models/demo.nne): nnU-Net v2 trained on synthetic DWI + ADC
#     stroke cases (tools/cloud/make_demo_model.sh), converted to nnedge's format;
#  2. predict the bundled demo case (data/demo/, a synthetic case the model never saw) as
#     nnU-Net v2 does, and write the mask, the stroke report (JSON) and an overlay (PNG);
#  3. lesion volume (mL), lesion count, mean ADC; Dice against the case's ground truth and
#     against nnU-Net v2's own prediction of the same case with the same weights;
#  4. the full-size 3d_fullres stroke network (31 M parameters, random weights): one forward
#     pass at 64^3.
set -eu
cli=${1:-build/nnedge}
out=build/demo
d=data/demo
rm -rf "$out"
mkdir -p "$out"
echo "== 1. the bundled stroke model =="
"$cli" info models/demo.nne | sed -n '1,12p'
echo
echo "== 2. predict the demo case (DWI + ADC) =="
"$cli" predict -m models/demo.nne -o "$out/demo_mask.nii.gz" -t 2 \
    --case "$d/demo_0000.nii.gz" "$d/demo_0001.nii.gz"
echo
echo "== 3. stroke report =="
"$cli" report --mask "$out/demo_mask.nii.gz" --dwi "$d/demo_0000.nii.gz" \
    --adc "$d/demo_0001.nii.gz" -o "$out/demo_report"
dice_of() { # dice_of NAME GT: Dice of the demo mask against GT
    mkdir -p "$out/$1/pred" "$out/$1/gt"
    cp "$out/demo_mask.nii.gz" "$out/$1/pred/demo.nii.gz"
    cp "$2" "$out/$1/gt/demo.nii.gz"
    "$cli" evaluate --pred "$out/$1/pred" --gt "$out/$1/gt" --no-hd -o "$out/$1/eval" >/dev/null
    sed -n 2p "$out/$1/eval/per_case.csv" | cut -d, -f2
}
gt_ml=$(sed -n 's/.*"lesion_ml":[[:space:]]*\([0-9.]*\).*/\1/p' "$d/demo_manifest.json" | head -n 1)
echo "ground truth:  ${gt_ml} mL (synthetic lesion, data/demo/demo_manifest.json)"
echo "Dice vs ground truth:               $(dice_of gt "$d/demo_gt.nii.gz")"
echo "Dice vs nnU-Net v2's own prediction: $(dice_of nnunet "$d/demo_nnunet.nii.gz") (1 = identical masks)"
echo "written: $out/demo_mask.nii.gz, $out/demo_report.json, $out/demo_report.png"
echo
echo "== 4. the 3d_fullres reference network (random weights), one forward at 64^3 =="
"$cli" convert --random-init tests/data/plans_3d_fullres_ref.json \
    --dataset tests/data/dataset_ref.json -o "$out/ref_random.nne"
"$cli" info "$out/ref_random.nne" | sed -n '5,16p'
"$cli" bench --model "$out/ref_random.nne" --patch 64,64,64 --repeat 1 --warmup 0 --json
