"""python -m nascore.experiments.hybrid_protocol [--fit-only] [--n-boot N] [--cache PATH] [--out DIR]

Runs the hybrid v2 protocol (nascore.experiments.hybrid_protocol.run) and prints the selected
rules. Long on a cold cache: it scores the fit sets (about 300 networks) and every registered
proxy on the 100 report ViTs (about an hour of CPU); reruns read the score cache. By default it
rewrites the committed reports/benchmarks/hybrid_v2/ (use --out for a trial). After a new
selection, copy calibration.json to nascore/proxies/data/hybrid_v2_calibration.json and set
RULE in nascore/proxies/hybrid_v2.py (a test checks both)."""

from __future__ import annotations

import argparse
import json

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
    ap.add_argument("--out", default=None, help="output folder (default reports/benchmarks/hybrid_v2)")
    a = ap.parse_args(argv)
    import torch

    from ...cache import ScoreCache
    from ..proxy_corr.inputs import default_cache_path

    torch.set_num_threads(1)
    cache = ScoreCache(a.cache or default_cache_path())
    sel = run(out_dir=a.out, n_boot=a.n_boot, cache=cache, fit_only=a.fit_only)
    print(json.dumps({"final": sel["final"], "lobo": sel["lobo"]}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
