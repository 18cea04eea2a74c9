"""Experiment drivers behind the notebooks (library code: tested, resumable, no notebook logic).

Submodules: :mod:`.space_survey` (notebook 00: sample and cost the hybrid space);
:mod:`.survey_baselines` (NB201: DARTS supernet measurements, black-box and zero-shot searches,
cost table) and :mod:`.survey_hybrid` (the same strategies inside the hybrid mini-benchmark
table) for notebook 01, whose cells call the helpers of :mod:`.survey_notebook`; :mod:`.proxy_corr`
(notebook 02: score NB201 cells and AutoFormer ViTs with every proxy, correlate with ground
truth, metrics; the cells' helpers in ``proxy_corr.steps``), :mod:`.transnas_meta` (meta-analysis of the
``hybrid`` aggregation rule on published TransNAS-Bench-101 / NB201 proxy scores),
:mod:`.search_nb201` (+ :mod:`.search_nb201_objectives`) and :mod:`.search_hybrid`
(+ :mod:`.search_hybrid_results`) for notebook 03, with the cells' helpers in
:mod:`.search_notebook`; :mod:`.seg_finetune` and :mod:`.seg_notebook` (cell helpers and the
setup the prefill and cross-validation commands share) for notebook 04.
:mod:`.report_summary` writes ``reports/README.md`` from the ``metrics.json`` files.
Import the submodules directly; this package imports nothing heavy.
"""
