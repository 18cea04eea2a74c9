"""The protocol that chooses ``hybrid`` v2 on declared fit sets only (issue 11).

* :mod:`.sets`: the fit and report sets of NB201, AutoFormer and the hybrid LGG mini-benchmark,
  and the per-network component tables;
* :mod:`.protocol`: candidates, fit-set scores, selection, the leave-one-benchmark-out table;
* :mod:`.run`: ``python -m nascore.experiments.hybrid_protocol`` writes
  ``reports/benchmarks/hybrid_v2/``.
"""

from .protocol import SELECTION, fit_table, lobo_table, report_rows, select
from .sets import BENCHMARKS, components_table, lgg_split, nb201_split

__all__ = ["BENCHMARKS", "SELECTION", "components_table", "fit_table", "lgg_split", "lobo_table",
           "nb201_split", "report_rows", "select"]
