#!/usr/bin/env bash
# Notebook 04 at a GPU profile: fill the checkpoints with parallel processes
# (python -m nascore.experiments.seg_prefill), then execute the notebook with papermill; it
# resumes every finished run from its checkpoint and only evaluates and draws.
#
#   PROFILE=full NASCORE_DATA=/path/to/data bash perf/gpu_notebook04.sh [JOBS, default 16]
#
# PROFILE is required: the results go to reports/$PROFILE/04_segmentation_finetune/ and replace
# what is there (with PROFILE=full, the committed 64-px CPU run). Other environment: PARAMS
# (default perf/gpu_notebook04.yaml, 128 px; relative to the repo root), KERNEL (papermill
# kernel, default python3), PYTHON (default python3), PREFILL_TIMEOUT / NOTEBOOK_TIMEOUT
# (seconds, default none), NASCORE_GIT_SHA (the commit, for provenance, when the tree is a copy
# without .git; taken from git when there is one). Writes gpu_run.json beside the results (the
# command, jobs, the device and the wall time of each phase).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-16}
PARAMS=${PARAMS:-perf/gpu_notebook04.yaml}
: "${PROFILE:?set PROFILE (smoke, default or full): the results replace reports/\$PROFILE/04_segmentation_finetune}"
case " smoke default full " in *" $PROFILE "*) ;; *) echo "PROFILE must be smoke, default or full (got '$PROFILE')" >&2; exit 2;; esac
export NASCORE_GIT_SHA=${NASCORE_GIT_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
PY=${PYTHON:-python3}
OUTDIR=reports/$PROFILE/04_segmentation_finetune
mkdir -p "$OUTDIR"
t0=$(date +%s)
timeout "${PREFILL_TIMEOUT:-0}" "$PY" -m nascore.experiments.seg_prefill "$PARAMS" --profile "$PROFILE" --jobs "$JOBS" --no-progress
rc_prefill=$?
t1=$(date +%s)
rc_notebook=-1
if [ "$rc_prefill" -eq 0 ]; then
  timeout "${NOTEBOOK_TIMEOUT:-0}" "$PY" -m papermill notebooks/04_segmentation_finetune.ipynb \
    "$OUTDIR/04_segmentation_finetune.ipynb" -k "${KERNEL:-python3}" --cwd notebooks \
    -f "$PARAMS" -p profile "$PROFILE"
  rc_notebook=$?
fi
t2=$(date +%s)
"$PY" - "$OUTDIR/gpu_run.json" "$PARAMS" "$PROFILE" "$JOBS" "$rc_prefill" "$rc_notebook" \
  "$((t1 - t0))" "$((t2 - t1))" <<'PYEOF'
import json, sys
import torch
from nascore.provenance import provenance, write_json
out, params, profile, jobs, rc_p, rc_n, dt_p, dt_n = sys.argv[1:]
dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
write_json(out, {"command": f"bash perf/gpu_notebook04.sh {jobs}", "params": params,
                 "profile": profile, "jobs": int(jobs), "device": dev,
                 "torch": torch.__version__, "prefill_exit": int(rc_p), "notebook_exit": int(rc_n),
                 "prefill_wall_s": int(dt_p), "notebook_wall_s": int(dt_n),
                 "provenance": provenance({"params": params, "jobs": int(jobs)})})
PYEOF
[ "$rc_prefill" -eq 0 ] && [ "$rc_notebook" -eq 0 ]
