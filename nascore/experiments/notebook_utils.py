"""Small helpers shared by the notebook drivers (``NotebookRun`` of notebooks 02-04)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping

from ..provenance import save_figure


def torch_setup(params: Mapping[str, Any]) -> str:
    """Applies ``params["num_threads"]`` (torch intra-op threads; 0 or absent: the default) and
    returns the device of ``params["device"]`` (``"auto"`` or absent: cuda when available)."""
    import torch

    if params.get("num_threads"):
        torch.set_num_threads(int(params["num_threads"]))
    dev = params.get("device", "auto")
    return ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev


def save_and_close(fig, path: os.PathLike, show: bool = False) -> Path:
    """Saves ``fig`` (:func:`nascore.provenance.save_figure`), shows it in the notebook when
    ``show``, and closes it; returns the path."""
    import matplotlib.pyplot as plt

    out = save_figure(fig, path)
    if show:
        plt.show()
    plt.close(fig)
    return out


def display(obj: Any) -> None:
    """IPython's ``display`` (``print`` outside IPython)."""
    try:
        from IPython.display import display as _display
    except ImportError:  # pragma: no cover - IPython comes with the notebook tooling
        print(obj)
        return
    _display(obj)


def notebook_defaults(path: os.PathLike) -> Dict[str, Any]:
    """The literal assignments of a notebook's ``parameters``-tagged cell (its defaults, the
    values papermill overrides), in order.

    Raises:
        FileNotFoundError: ``path`` is missing.
        ValueError: naming ``path`` when it has no ``parameters`` cell or that cell assigns a
            non-literal.
    """
    import ast
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    cells = json.loads(path.read_text())["cells"]
    src = next(("".join(c["source"]) for c in cells
                if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if src is None:
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    out: Dict[str, Any] = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError as e:
                raise ValueError(f"{path}: parameter {node.targets[0].id!r} is not a literal") from e
            for t in node.targets:
                out[t.id] = value
    return out
