"""Experiment drivers behind the notebooks (library code: tested, resumable, no notebook logic).

Submodules: :mod:`.proxy_corr` (notebook 02: score NB201 cells and AutoFormer ViTs with every
proxy, correlate with ground truth, metrics), :mod:`.transnas_meta` (meta-analysis of the
``hybrid`` aggregation rule on published TransNAS-Bench-101 / NB201 proxy scores).
Import the submodules directly; this package imports nothing heavy.
"""
