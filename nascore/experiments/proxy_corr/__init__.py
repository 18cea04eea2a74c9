"""Driver of notebook 02: score NB201 cells and AutoFormer ViTs with zero-cost proxies,
correlate the scores with trained accuracy, and summarise (tables, metrics, reproduction).

Pipeline::

    cells = sample_nb201(1000, seed=0)                       # excludes the hybrid fit split
    cache = ScoreCache(default_cache_path())
    s = score_nb201(cells, ["synflow", "naswot"], "cifar10", batch_size=64, cache=cache)
    s = add_rank_aggregates(s)                               # az_nas_rank, hybrid_rank
    t = correlation_table(s, truth_nb201(cells, "cifar10"), n_boot=1000)
    m = metrics_json(t, s)

Choices, all recorded in the outputs:

* **Resumable, cached.** Every (net, proxy) score is written to the SQLite
  :class:`~nascore.cache.ScoreCache` as soon as it is computed, under a namespace naming the
  benchmark, dataset, input kind, image split, batch size, a hash of the builder sources
  (:func:`builder_version`) and a hash of the proxy's own sources (:func:`proxy_version`), so a
  rerun recomputes nothing, a killed run resumes, and editing a proxy invalidates only its
  stale scores. A net whose proxies are all cached is not even built.
* **Init.** Each net is built under ``torch.manual_seed(seed)`` inside
  ``torch.random.fork_rng`` (global RNG restored); the proxy harness then seeds the proxy.
* **Minibatch.** Real images (:func:`nascore.bench.images.load_minibatch`): CIFAR-10 ``train``
  (balanced), CIFAR-100 ``eranhead`` (63 classes; ``fine0-9`` above 100 images), and for
  ImageNet16-120 a **SURROGATE** (one real ImageNet photo per class at 16x16, not the benchmark's
  images). ``input_kind="gaussian"`` uses N(0, 1) inputs with random labels instead.
* **Degenerate NB201 cells** (no input->output path avoiding ``none``; trained accuracy ~10%)
  are scored like any cell (raw values kept) but, by default, **ranked worst explicitly** in the
  correlations (``nan_policy="worst"``), like every failed (NaN/inf/error) score; counts are
  reported as ``n_degenerate`` and ``n_failed``.
* **Population aggregates.** ``az_nas_rank`` is AZ-NAS's official Σ log(rank/N) over the
  ``az_nas`` components, ``hybrid_rank`` the same over the ``hybrid`` components, both over the
  scored sample (:func:`add_rank_aggregates`); ``az_nas``/``hybrid`` are the per-net versions.
* **Hybrid fit split.** :func:`sample_nb201` leaves out the 200-cell split the ``hybrid``
  constants were fitted on (:func:`hybrid_fit_indices`), so no reported cell was used to fit.

Modules, one concern each (everything public is re-exported here):
:mod:`.inputs` (samples, ground truth, minibatches, cache namespace), :mod:`.versions` (source
hashes in the cache keys), :mod:`.scoring` (cached, shardable scoring; population aggregates),
:mod:`.analysis` (correlations, matrices, timing, ``metrics.json``), :mod:`.references`
(published values and the reproduction table), :mod:`.cli` (parallel cache prefill,
``python -m nascore.experiments.proxy_corr``), :mod:`.steps` (the stateless helpers notebook 02's cells
call).
"""

from ...proxies.versions import builder_version, code_version, proxy_version
from .analysis import (
                       AUTOFORMER_KEY,
                       correlation_table,
                       higher_is_better,
                       metrics_json,
                       proxy_matrix,
                       scores_for_csv,
                       timing_table,
                       wide_scores,
)
from .cli import autoformer_rows, main, nb201_jobs, prefill
from .inputs import (
                       NB201_DATASETS,
                       SURROGATE_NOTE,
                       default_cache_path,
                       default_split,
                       has_images,
                       hybrid_fit_indices,
                       make_batch,
                       namespace,
                       sample_autoformer,
                       sample_nb201,
                       truth_autoformer,
                       truth_nb201,
)
from . import steps
from .references import (
                       NASLIB_NAMES,
                       PUBLISHED_NB201_CIFAR10,
                       PUBLISHED_SOURCE,
                       explain_reproduction,
                       naswot_published_reference,
                       published_on_sample,
                       reproduction_table,
)
from .scoring import POPULATION_AGGREGATES, add_rank_aggregates, score_autoformer, score_nb201

__all__ = [
    "AUTOFORMER_KEY", "NASLIB_NAMES", "NB201_DATASETS", "POPULATION_AGGREGATES",
    "PUBLISHED_NB201_CIFAR10", "PUBLISHED_SOURCE", "SURROGATE_NOTE", "add_rank_aggregates",
    "autoformer_rows", "builder_version", "code_version", "correlation_table", "default_cache_path",
    "default_split", "explain_reproduction", "has_images", "higher_is_better", "hybrid_fit_indices",
    "main", "make_batch", "metrics_json", "namespace", "naswot_published_reference", "nb201_jobs",
    "prefill", "proxy_matrix", "proxy_version", "published_on_sample", "reproduction_table",
    "sample_autoformer", "sample_nb201", "score_autoformer", "score_nb201", "scores_for_csv",
    "timing_table", "truth_autoformer", "truth_nb201", "wide_scores",
]
