"""Experiment drivers behind the notebooks (library code: tested, resumable, no notebook logic).

Submodules: :mod:`.survey` (notebook 00: sample and cost the hybrid space), :mod:`.proxy_corr`
(notebook 02: score NB201 cells and AutoFormer ViTs with every proxy, correlate with ground
truth, metrics), :mod:`.transnas_meta` (meta-analysis of the ``hybrid`` aggregation rule on
published TransNAS-Bench-101 / NB201 proxy scores), :mod:`.search_nb201` /
:mod:`.search_hybrid` (notebook 03), :mod:`.seg_finetune` (notebook 04).
Import the submodules directly; this package imports nothing heavy.
"""
