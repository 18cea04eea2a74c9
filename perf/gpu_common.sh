# Sourced by perf/gpu_cv04.sh and perf/gpu_gt128.sh (run from the repository root): the setup
# both GPU commands share. Needs OUT; reads PACK (.gpu_pack), DATA ($PACK/data/lgg_full_flair128),
# PYTHON (python3) and SCRATCH (a fresh folder from mktemp -d: installed wheels and the work
# folder live there). Installs the packed wheels, checks the data and records the commit.
: "${OUT:?set OUT to the folder whose files come back}"
PACK=${PACK:-.gpu_pack}
DATA=${DATA:-$PACK/data/lgg_full_flair128}
PY=${PYTHON:-python3}
SCRATCH=${SCRATCH:-$(mktemp -d)}
mkdir -p "$OUT" "$SCRATCH"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ls "$PACK"/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SCRATCH/site" "$PACK"/wheels/*.whl || exit 2
  export PYTHONPATH="$PYTHONPATH:$SCRATCH/site"
fi
[ -d "$DATA" ] || { echo "no data at $DATA: run python perf/gpu_pack.py first" >&2; exit 2; }
export NASCORE_GIT_SHA=${NASCORE_GIT_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
