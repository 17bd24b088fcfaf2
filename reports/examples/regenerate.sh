#!/usr/bin/env bash
# `make reports`: regenerate the example outputs in reports/examples/ offline, from the published observers
# (model-vs-human cue-conflict decisions, ImageNet-X's recorded val predictions) and the embedded
# EfficientNet-Lite0 on the cue-conflict stimuli. Run folders go to reports/build (not committed);
# only the small pages and exports are copied into reports/examples/.
set -euo pipefail
cd "$(dirname "$0")/../.."
AUDIT="${AUDIT:-.venv/bin/audit}"
DATA="${REPORT_DATA:-../shared/data}"
DECISIONS="$DATA/reference/cue-conflict-decisions"
PREDICTIONS="$DATA/reference/imagenet-x-predictions"
BUILD=reports/build
export HF_HUB_OFFLINE=1 AUDITKIT_OFFLINE=1
for needed in "$DATA/cue-conflict" "$DECISIONS" "$PREDICTIONS"; do
  [ -d "$needed" ] || { echo "make reports: $needed is missing; set REPORT_DATA to the folder holding cue-conflict/ and reference/" >&2; exit 2; }
done
rm -rf "$BUILD/runs" "$BUILD/compare" "$BUILD/export"
mkdir -p "$BUILD/runs" "$BUILD/humans"
cp "$DECISIONS"/cue-conflict_subject-*_session_1.csv "$BUILD/humans/"

run() { "$AUDIT" run --no-progress "$@" >/dev/null; }
run --model efficientnet_lite0 --suites shape_bias --data "cue-conflict=$DATA/cue-conflict" --out "$BUILD/runs/efficientnet_lite0"
for observer in resnet50 bagnet33 swag-vit-b16-in1k; do
  run --model "decisions:$DECISIONS/cue-conflict_${observer}_session-1.csv" --suites shape_bias --out "$BUILD/runs/$observer"
done
run --model "decisions:$BUILD/humans" --suites shape_bias --out "$BUILD/runs/humans"
for model in ResNet50 ViT; do
  run --model "predictions:$PREDICTIONS/$model.csv" --suites imagenet_x,robustness --out "$BUILD/runs/$model"
done
# Many models against the field: EfficientNet-Lite0, -Lite1, -Lite2 (real weights) in one command,
# then with the published observers and the paper's four models (published rows)
rm -rf "$BUILD/lite" "$BUILD/field"
run --model efficientnet_lite0 --model efficientnet_lite1 --model efficientnet_lite2 --suites shape_bias \
    --data "cue-conflict=$DATA/cue-conflict" --out "$BUILD/lite"
"$AUDIT" compare "$BUILD/lite" "$BUILD/runs/resnet50" "$BUILD/runs/bagnet33" "$BUILD/runs/swag-vit-b16-in1k" \
    "$BUILD/runs/humans" --with beyond-inet --out "$BUILD/field" >/dev/null
"$AUDIT" card "$BUILD/runs/efficientnet_lite0"  # also written by audit run; kept to show the command
"$AUDIT" compare "$BUILD/runs" --out "$BUILD/compare"
"$AUDIT" export "$BUILD/compare" --format latex,png,csv,modelcard --out "$BUILD/export" >/dev/null

OUT=reports/examples
rm -rf "$OUT/run" "$OUT/compare" "$OUT/export" "$OUT/field"
mkdir -p "$OUT/run" "$OUT/compare" "$OUT/export/figures" "$OUT/field"
cp "$BUILD/field/compare.html" "$BUILD/field/leaderboard.csv" "$OUT/field/"
"${PYTHON:-.venv/bin/python}" reports/examples/testbed_field.py "$OUT/field"
cp "$BUILD/runs/efficientnet_lite0/report.html" "$BUILD/runs/efficientnet_lite0/model_card.html" \
   "$BUILD/runs/efficientnet_lite0/results.json" "$OUT/run/"
cp "$BUILD/compare/compare.html" "$OUT/compare/"
cp -r "$BUILD/export/properties.tex" "$BUILD/export/records.csv" "$BUILD/export/paired_tests.csv" \
   "$BUILD/export/CITATIONS.bib" "$BUILD/export/modelcard" "$OUT/export/"
for figure in properties__page shape_bias__cue-conflict__shape_bias__subset__column \
              shape_bias__cue-conflict__shape_bias_per_category__efficientnet_lite0__column; do
  cp "$BUILD/export/figures/$figure.png" "$OUT/export/figures/"
done
# the radar is drawn only when three properties differ beyond their CIs
[ -f "$BUILD/export/figures/radar__column.png" ] && cp "$BUILD/export/figures/radar__column.png" "$OUT/export/figures/"
du -sh "$OUT"
