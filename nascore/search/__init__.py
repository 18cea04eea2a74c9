"""Architecture search: strategies, constraints, Pareto fronts, resumable histories, scale-out.

* :data:`STRATEGIES` (``random``, ``evolution``, ``reinforce``, ``blockwise``; a new strategy
  is one new file in this folder, imported by the package):
  ``STRATEGIES.get(name)(**settings).run(space, objective, budget, rng, executor=None,
  constraints=..., cost_fn=..., history_path=...) -> SearchHistory``.
* Spaces: any :class:`nascore.decisions.SearchSpace` (``HybridSegSpace``,
  :class:`nascore.bench.nb201_space.NB201Space`, :class:`~nascore.search.toy.ToySpace`).
* :class:`Constraints` (hard cost bounds), :func:`pareto_front` / :func:`nondominated_sort`.
* Zero-shot proxy objectives: :mod:`nascore.search.objectives`; benchmark (table) objectives
  live with their benchmark (NB201: :mod:`nascore.bench.nb201_objectives`). This package
  imports no benchmark code.
* Resuming and executors (process pools, Dask): :mod:`nascore.search.executor`; warm
  worker pools and Dask clusters by address: :func:`search_executor`
  (:mod:`nascore.search.workers`).
"""

from ..registry import import_submodules
from .base import STRATEGIES, Strategy
from .blockwise import Blockwise
from .constraints import Constraints
from .evolution import RegularizedEvolution
from .executor import Evaluator, Outcome, arch_json, arch_key
from .history import EvalRecord, RejectRecord, SearchHistory
from .pareto import nondominated_sort, pareto_front
from .random_search import RandomSearch
from .reinforce import Reinforce
from .workers import ResidentObjective, search_executor

__all__ = ["STRATEGIES", "Strategy", "RandomSearch", "RegularizedEvolution", "Reinforce",
           "Blockwise", "Constraints", "Evaluator", "Outcome", "arch_json", "arch_key",
           "EvalRecord", "RejectRecord", "SearchHistory", "nondominated_sort", "pareto_front",
           "ResidentObjective", "search_executor"]

#: Every module of this package, imported: a strategy file added here registers itself.
PLUGINS = import_submodules(__name__, __path__)
