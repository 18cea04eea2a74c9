"""nascore: zero-shot NAS in a hybrid CNN + Transformer space for tumour segmentation.

Plug-ins outside the package (a block type, a proxy or a dataset of your own, in a module of
yours) are imported with nascore itself when ``NASCORE_PLUGINS`` names them (comma-separated
module names, e.g. ``NASCORE_PLUGINS=my_blocks``): set it before the run starts and every
process of it sees them, spawned workers and ``seg_prefill`` jobs included, which inherit the
environment (:func:`nascore.registry.load_plugins`).
"""

__version__ = "0.1.0"

from .registry import load_plugins as _load_plugins  # noqa: E402

PLUGINS = _load_plugins()
