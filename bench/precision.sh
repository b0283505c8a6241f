#!/bin/sh
# bench/precision.sh - reduced precision against FP32 on held-out synthetic cases, nnedge only.
#
# usage: bench/precision.sh [-m MODEL.nne] [-n N] [--seed S] [-t THREADS] [--work DIR]
#                           [--precisions "fp16 int8"] [--calibration FILE] [--cal-cases K]
#
# 1. `nnedge synth` draws N lesion cases (default 12, seed 2: never used for training the bundled
#    model, whose recipe uses seed 1).
# 2. For int8 without --calibration, `nnedge calibrate` measures the activation ranges on K other
#    synthetic cases (default 4, seed 7) first.
# 3. `nnedge predict` segments them with the full nnU-Net pipeline (sliding window, mirroring) in
#    FP32 and in every precision listed (default "fp16"), timing each run.
# 4. `nnedge evaluate` scores every reduced-precision mask against the FP32 mask of the same case
#    (the FP32 masks act as ground truth: Dice 1 means voxel-identical) and every mask against the
#    synthetic ground truth.
# Prints one JSON object: per precision the Dice against FP32 (mean, min, per case), the Dice
# against the ground truth and the wall time of the predict run. Default model: models/demo.nne.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$ROOT/models/demo.nne SEED=2 N=12 T=2 WORK=$ROOT/build/precision PRECS=fp16 CAL= NCAL=4
while [ $# -gt 0 ]; do
    case $1 in
    -m) MODEL=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --precisions) PRECS=$2; shift 2 ;;
    --calibration) CAL=$2; shift 2 ;;
    --cal-cases) NCAL=$2; shift 2 ;;
    *) echo "precision.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
CLI=$ROOT/build/nnedge
[ -x "$CLI" ] || make -C "$ROOT" cli >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK"
"$CLI" synth -n "$N" -o "$WORK/cases" --seed "$SEED" -q
case " $PRECS " in *" int8 "*)
    if [ -z "$CAL" ]; then
        "$CLI" synth -n "$NCAL" -o "$WORK/calcases" --seed 7 -q
        CAL=$WORK/calibration.json
        "$CLI" calibrate -m "$MODEL" -i "$WORK/calcases/imagesTr" -o "$CAL" -t "$T" -q
    fi ;;
esac
for p in fp32 $PRECS; do
    extra=
    [ "$p" = int8 ] && extra="--calibration $CAL"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$CLI" predict -m "$MODEL" -i "$WORK/cases/imagesTr" -o "$WORK/pred_$p" -t "$T" --quiet \
        --precision "$p" $extra
    end=$(date +%s.%N)
    echo "$start $end" >"$WORK/time_$p"
    "$CLI" evaluate --pred "$WORK/pred_$p" --gt "$WORK/cases/labelsTr" --no-hd \
        -o "$WORK/gt_$p" >/dev/null
    if [ "$p" != fp32 ]; then
        "$CLI" evaluate --pred "$WORK/pred_$p" --gt "$WORK/pred_fp32" --no-hd \
            -o "$WORK/vs32_$p" >/dev/null
    fi
done
python3 - "$WORK" "$MODEL" "$N" "$SEED" fp32 $PRECS <<'PY'
import json, sys
work, model, n, seed, precs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]

def dice(path):
    d = json.load(open(path))
    rows = d["cases"] if isinstance(d, dict) and "cases" in d else d
    return {r["case"]: r["dice"] for r in rows}

out = {"tool": "bench/precision.sh", "model": model, "cases": n, "seed": seed, "runs": {}}
for p in precs:
    t0, t1 = (float(x) for x in open("%s/time_%s" % (work, p)).read().split())
    gt = dice("%s/gt_%s/per_case.json" % (work, p))
    r = {"predict_wall_s": round(t1 - t0, 2),
         "dice_vs_gt_mean": round(sum(gt.values()) / len(gt), 4)}
    if p != "fp32":
        v = dice("%s/vs32_%s/per_case.json" % (work, p))
        r.update({"dice_vs_fp32_mean": round(sum(v.values()) / len(v), 5),
                  "dice_vs_fp32_min": round(min(v.values()), 5),
                  "dice_vs_fp32": {k: round(x, 5) for k, x in sorted(v.items())}})
    out["runs"][p] = r
print(json.dumps(out, indent=1))
PY
