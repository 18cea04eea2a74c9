#!/usr/bin/env bash
# The hybrid-space ground truth at 128 px on a GPU machine, with the space's resolution knob:
# every architecture is sampled with an input side from ARCH_RES (64 96 128), trained at it on
# fold 0's training patients of the whole LGG set (FLAIR only, from .gpu_pack/), and validated
# on the 128-px masks; the budget is chosen by the pilot rule (seed-to-seed Kendall tau >= TAU
# on the pilot architectures, cheapest first). WORKERS training processes share the GPU.
#
#   OUT=results bash perf/gpu_gt128.sh        # on the device machine; resumable across calls
#
# Loses nothing: the job appends each finished row to its CSV atomically, and those files are
# copied into $OUT every 15 s and at the end, so a call cut short returns every finished row.
# A later call resumes from the rows committed under reports/benchmarks/ (copied in first).
# Environment (defaults): PACK (.gpu_pack), DATA ($PACK/data/lgg_full_flair128), NAME
# (hybrid_lgg_gpu128), RES (128), ARCH_RES ("64 96 128"), BUDGETS ("600 1200 2400"), TAU
# (0.75), N_ARCHS (120), WORKERS (12), DEVICE (cuda), BATCH (16), CHANNELS (1), TIME_LIMIT
# (start no training after this many s; 280), KILL_AFTER (stop the job after this many s; 340),
# PYTHON (python3), SCRATCH (mktemp -d), WORK ($SCRATCH/work), EXTRA (more arguments for
# python -m nascore.bench.hybrid_seg).
set -uo pipefail
cd "$(dirname "$0")/.."
source perf/gpu_common.sh
NAME=${NAME:-hybrid_lgg_gpu128}
WORK=${WORK:-$SCRATCH/work}
mkdir -p "$WORK"
cp reports/benchmarks/"$NAME"* "$WORK"/ 2>/dev/null  # resume from the committed rows
copy() { for f in "$WORK/$NAME"*; do [ -f "$f" ] && cp "$f" "$OUT"/; done; }
( while sleep 15; do copy; done ) &
copier=$!
timeout "${KILL_AFTER:-340}" "$PY" -m nascore.bench.hybrid_seg run --data "$DATA" --name "$NAME" \
  --resolution "${RES:-128}" --arch-resolutions ${ARCH_RES:-64 96 128} --channels "${CHANNELS:-1}" \
  --batch-size "${BATCH:-16}" --device "${DEVICE:-cuda}" --pilot-budgets ${BUDGETS:-600 1200 2400} \
  --tau-threshold "${TAU:-0.75}" --n-archs "${N_ARCHS:-120}" --second-seed-non-pilot \
  --folds 5 --fold 0 --workers "${WORKERS:-12}" --time-limit "${TIME_LIMIT:-280}" \
  --out "$WORK" --no-progress ${EXTRA:-} 2>&1 | tee "$WORK/$NAME.log"
rc=${PIPESTATUS[0]}
kill "$copier" 2>/dev/null
copy
echo "exit $rc; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
