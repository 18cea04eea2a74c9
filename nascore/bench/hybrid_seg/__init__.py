"""A trained mini-benchmark of our own search space: hybrid segmentation networks on tumour data.

Proxies in this project are validated on public benchmarks of classifiers (NAS-Bench-201,
AutoFormer). This package builds the ground truth where the project uses them: architectures of
:class:`~nascore.space.HybridSegSpace`, each trained with one fixed recipe on the LGG training
patients and scored on the validation patients.

Modules:

* :mod:`.sample`: the stratified architecture sample (FLOPs bins × attention groups) and the
  reference rows (HCT-Net-like, notebook 03's ``best_arch.json``);
* :mod:`.recipe`: the one training recipe (:class:`Recipe`) and :func:`train_row`, which trains
  one (architecture, seed, budget) task and returns its row;
* :mod:`.table`: the row schema and the append-only, atomically rewritten CSV (resume);
* :mod:`.job`: the pilot (budget choice) and the main job, run through a process pool or Dask;
* :mod:`.analysis`: the noise ceiling and proxy-versus-Dice correlations with bootstrap CIs.

The command line (``python -m nascore.bench.hybrid_seg --help``) runs or resumes the job.
"""

from .recipe import Recipe, train_row
from .sample import attn_group, deep_attn_share, reference_archs, stratified_sample
from .table import ROW_COLUMNS, BenchTable

__all__ = ["Recipe", "train_row", "attn_group", "deep_attn_share", "reference_archs",
           "stratified_sample", "ROW_COLUMNS", "BenchTable"]
