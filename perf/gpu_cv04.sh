#!/usr/bin/env bash
# Notebook 04 cross-validated at 128 px on a GPU machine, as one command that loses nothing:
# one training process per fold, all sharing the GPU; each fold's tables (and its log) are
# packed into $OUT/fold<i>.tgz the moment that fold finishes, so a run cut short by its time
# limit still returns every finished fold; then the pooled report of the finished folds
# ($OUT/report.tgz: summary.csv, paired.csv, val_curves.csv, metrics.json).
#
#   OUT=results bash perf/gpu_cv04.sh                 # on the device machine: $OUT is given
#
# Needs .gpu_pack/ (python perf/gpu_pack.py, carried with the checkout): the data and the MONAI
# wheel. Environment (defaults): PACK (.gpu_pack), DATA ($PACK/data/lgg_full_flair128), PARAMS
# (perf/gpu_cv04.yaml), FOLDS ("0 1 2 3 4": the folds run now), K (5 folds in all), STEPS (740
# optimisation steps per model), DEVICE (auto; cpu for the CPU test), PYTHON (python3),
# SCRATCH (mktemp -d), WORK ($SCRATCH/work), TIME_LIMIT (seconds after which unfinished
# folds are stopped; default 330). Unpack the
# results here with: for f in FILES_AT/*.tgz; do tar xzf $f -C reports/full/04_segmentation_finetune_gpu128; done
set -uo pipefail
cd "$(dirname "$0")/.."
source perf/gpu_common.sh
PARAMS=${PARAMS:-perf/gpu_cv04.yaml}
FOLDS=${FOLDS:-0 1 2 3 4}
K=${K:-5}
STEPS=${STEPS:-740}
DEVICE=${DEVICE:-auto}
WORK=${WORK:-$SCRATCH/work}
mkdir -p "$WORK"
args=("$PARAMS" --profile full --data "$DATA" --folds "$K" --steps "$STEPS" --device "$DEVICE"
      --out "$WORK" --no-progress)
t0=$(date +%s)
pids=()
for f in $FOLDS; do
  ( timeout "${TIME_LIMIT:-330}" "$PY" -m nascore.experiments.seg_cv "${args[@]}" --fold "$f" \
      > "$WORK/fold$f.log" 2>&1
    echo "fold $f: exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$WORK/fold$f.log"
    d=$(cd "$WORK" && ls -d folds/*/fold$f 2>/dev/null | head -1)  # folds/<run key>/fold<i>
    if [ -n "$d" ] && [ -f "$WORK/$d/search.json" ]; then
      tar czf "$OUT/fold$f.tgz" -C "$WORK" "$d" "fold$f.log"
    else
      tar czf "$OUT/fold$f.log.tgz" -C "$WORK" "fold$f.log"
    fi ) &
  pids+=($!)
done
wait "${pids[@]}"
"$PY" -m nascore.experiments.seg_cv "${args[@]}" --report-only > "$WORK/report.log" 2>&1
echo "report: exit $?; $(( $(date +%s) - t0 )) s in all" | tee -a "$WORK/report.log"
files=(report.log)
for f in summary.csv paired.csv val_curves.csv metrics.json; do [ -f "$WORK/$f" ] && files+=("$f"); done
tar czf "$OUT/report.tgz" -C "$WORK" "${files[@]}"
cat "$WORK/report.log"
