"""python -m nascore.experiments.hybrid_protocol [--version v3|v2] [--fit-only] [--n-boot N]
[--cache PATH] [--out DIR] [--cost-repeats N]

Runs the hybrid protocol (nascore.experiments.hybrid_protocol.run) and prints the selected
rules. Long on a cold cache: it scores the fit sets (about 300 networks) and every registered
proxy on the 100 report ViTs (about an hour of CPU); reruns read the score cache. v3 (default)
also times candidate rules on the cost nets (about a minute each, one thread; stored in
measured_costs.csv and read back on a rerun: run it on an otherwise idle machine). By default it
rewrites the committed reports/benchmarks/hybrid_<version>/ (use --out for a trial). After a
new selection, copy calibration.json to nascore/proxies/hybrid/data/hybrid_<version>_calibration.json
and set RULE in nascore/proxies/hybrid_<version>.py (a test checks both)."""

from __future__ import annotations

import argparse
import json

from ...cache import ScoreCache
from .run import run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nascore.experiments.hybrid_protocol",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--cache", default=None,
                    help="score cache (default: notebook 02's, reports/cache/02_proxy_correlation/scores.sqlite)")
    ap.add_argument("--fit-only", action="store_true",
                    help="stop after the selection on the fit sets (no report set is read)")
    ap.add_argument("--out", default=None,
                    help="output folder (default reports/benchmarks/hybrid_<version>)")
    ap.add_argument("--version", default="v3", choices=["v3", "v2"],
                    help="v3: measured cost check (default); v2: declared costs only")
    ap.add_argument("--cost-repeats", type=int, default=5, help="timing repeats per cost net (v3)")
    a = ap.parse_args(argv)
    import torch

    from ..proxy_corr.inputs import default_cache_path

    torch.set_num_threads(1)
    cache = ScoreCache(a.cache or default_cache_path())
    sel = run(out_dir=a.out, n_boot=a.n_boot, cache=cache, fit_only=a.fit_only,
              version=a.version, cost_repeats=a.cost_repeats)
    print(json.dumps({"final": sel["final"], "lobo": sel["lobo"]}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
