"""``python -m nascore.experiments.hybrid_protocol [--n-boot N] [--cache PATH]``: runs the
``hybrid`` v2 protocol (:mod:`.run`) and prints the selected rules."""

from __future__ import annotations

import argparse
import json

from .run import run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nascore.experiments.hybrid_protocol",
                                 description=__doc__)
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
