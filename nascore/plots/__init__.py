"""Figures: :mod:`.arch` (an architecture drawn as a figure), :mod:`.space` (notebook 00,
search-space survey), :mod:`.baselines` (01, survey of baselines), :mod:`.corr` (02, proxy correlation), :mod:`.search` (03, search runs),
:mod:`.seg` (04, segmentation). Every function returns a matplotlib ``Figure`` (``draw_arch``:
its ``Axes``); save it with :func:`nascore.provenance.save_figure`. Import the submodules
directly."""
