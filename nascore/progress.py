"""Progress bars that show where the suite's users run it: a terminal, JupyterLab, and
Papermill batch runs (``make reproduce`` streams every cell's output with ``--log-output``).

:func:`tqdm` is ``tqdm.tqdm`` with an update interval chosen for where the output goes: the
library's default in a terminal; 5 s inside a Jupyter kernel (a notebook, or a notebook
Papermill executes, whose streamed log then gets a line every few seconds rather than every
tenth of one); 30 s when the output is a file or pipe (batch logs). An explicit
``mininterval`` wins. Every long loop of the package uses it.
"""

from __future__ import annotations

import sys

from tqdm import tqdm as _tqdm


def _in_kernel() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "Kernel" in type(shell).__name__ or "ipykernel" in sys.modules


def default_interval() -> float:
    """Seconds between bar updates for the current output (see the module docstring)."""
    if _in_kernel():
        return 5.0
    stream = sys.stderr
    return 0.1 if getattr(stream, "isatty", lambda: False)() else 30.0


def tqdm(*args, **kwargs):
    """``tqdm.tqdm(*args, **kwargs)`` with ``mininterval`` defaulting to
    :func:`default_interval` (and ``maxinterval`` raised to match)."""
    interval = kwargs.setdefault("mininterval", default_interval())
    kwargs.setdefault("maxinterval", max(10.0, float(interval)))
    return _tqdm(*args, **kwargs)
