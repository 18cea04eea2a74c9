"""The protocol that chooses the ``hybrid`` rule on declared fit sets only: v2 under
declared costs, v3 (the registered ``hybrid``) with the measured cost check.

* :mod:`.sets`: the fit and report sets of NB201, AutoFormer and the hybrid LGG mini-benchmark,
  and the per-network component tables;
* :mod:`.protocol`: candidates, fit-set scores, selection, the leave-one-benchmark-out table;
* :mod:`.cost`: the measured cost of a candidate rule (v3);
* :mod:`.run`: ``python -m nascore.experiments.hybrid_protocol [--version v3|v2]`` writes
  ``reports/benchmarks/hybrid_<version>/``.
"""

from .protocol import SELECTION, fit_table, lobo_table, report_rows, select
from .sets import BENCHMARKS, components_table, lgg_split, nb201_split

__all__ = ["BENCHMARKS", "SELECTION", "components_table", "fit_table", "lgg_split", "lobo_table",
           "nb201_split", "report_rows", "select"]
