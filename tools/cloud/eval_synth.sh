#!/bin/sh
# tools/cloud/eval_synth.sh - measures a stroke model on held-out synthetic cases, with nnedge only.
#
# usage: tools/cloud/eval_synth.sh MODEL.nne [--seed S] [-n N] [--traps N] [--work DIR] [-t THREADS]
#
# 1. `nnedge synth` draws N held-out lesion cases (default 20) with seed S (default 2; the
#    training set uses another seed) and N trap-only cases (no lesion; T2 shine-through present).
# 2. `nnedge predict` segments them three ways: the default sliding window with mirroring, without
#    mirroring (--disable-tta), and the study's single fixed patch (--mode fixed).
# 3. `nnedge evaluate` scores each against the synthetic ground truth and `nnedge compare` tests
#    the configurations against each other (Friedman, Wilcoxon).
# 4. The trap-only cases give the false-positive volume (mL) per case.
# Results: DIR/summary.txt (default DIR = build/eval_synth).
set -eu
[ $# -ge 1 ] || { sed -n '4p' "$0" | sed 's/^# //' >&2; exit 2; }
MODEL=$1
shift
SEED=2 N=20 NT=10 WORK=build/eval_synth T=2
while [ $# -gt 0 ]; do
    case "$1" in
    --seed) SEED=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    --traps) NT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    *) echo "eval_synth.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLI=$ROOT/build/nnedge
[ -x "$CLI" ] || make -C "$ROOT" cli
rm -rf "$WORK"
mkdir -p "$WORK"
"$CLI" synth -n "$N" -o "$WORK/cases" --seed "$SEED" -q
"$CLI" synth -n "$NT" -o "$WORK/traps" --seed "$SEED" --trap-only 1 -q

summary=$WORK/summary.txt
: >"$summary"
for mode in default notta fixed; do
    case $mode in
    default) extra= ;;
    notta) extra=--disable-tta ;;
    fixed) extra="--mode fixed" ;;
    esac
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$CLI" predict -m "$MODEL" -i "$WORK/cases/imagesTr" -o "$WORK/pred_$mode" -t "$T" --quiet $extra
    end=$(date +%s)
    "$CLI" evaluate --pred "$WORK/pred_$mode" --gt "$WORK/cases/labelsTr" -t "$T" \
        -o "$WORK/eval_$mode" >/dev/null
    echo "== $mode: $N cases predicted in $((end - start)) s" >>"$summary"
    cat "$WORK/eval_$mode/summary.md" >>"$summary"
    echo >>"$summary"
    # shellcheck disable=SC2086
    "$CLI" predict -m "$MODEL" -i "$WORK/traps/imagesTr" -o "$WORK/trap_$mode" -t "$T" --quiet $extra
    "$CLI" evaluate --pred "$WORK/trap_$mode" --gt "$WORK/traps/labelsTr" --no-hd \
        -o "$WORK/trapeval_$mode" >/dev/null
done
"$CLI" compare default="$WORK/eval_default" notta="$WORK/eval_notta" fixed="$WORK/eval_fixed" \
    --holm -o "$WORK/compare" >/dev/null
echo "== compare (reference: default)" >>"$summary"
cat "$WORK/compare/compare.md" >>"$summary"
echo >>"$summary"
echo "== trap-only cases: false-positive volume (mL) per case" >>"$summary"
for mode in default notta fixed; do
    printf '%s:' "$mode" >>"$summary"
    python3 - "$WORK/trapeval_$mode/per_case.json" >>"$summary" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["cases"] if isinstance(d, dict) and "cases" in d else d
v = [float(r.get("pred_volume_ml", r.get("pred_ml", 0.0))) for r in rows]
print(" " + " ".join("%.2f" % x for x in v) + "  | cases with any FP: %d/%d, mean %.3f mL, max %.3f mL"
      % (sum(1 for x in v if x > 0), len(v), sum(v) / max(len(v), 1), max(v) if v else 0.0))
PY
done
cat "$summary"
