"""Small helpers the notebooks' cells share: threads and device, showing and saving figures,
notes, and reading a notebook's parameters cell."""

from __future__ import annotations

import ast
import json
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
    ``show``, and closes it; returns the path.

    Inside IPython the saved PNG itself is displayed, so the figure appears whatever the
    matplotlib backend (the notebooks select the non-interactive ``Agg``, under which
    ``plt.show()`` shows nothing); elsewhere ``plt.show()`` is called.
    """
    import matplotlib.pyplot as plt

    out = save_figure(fig, path)
    if show:
        ip = None
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:  # pragma: no cover - IPython comes with the notebook tooling
            pass
        if ip is not None and Path(out).suffix.lower() == ".png":
            from IPython.display import Image

            display(Image(filename=str(out)))
        else:
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
    values papermill overrides), in order; annotated assignments (``x: int = 3``) count too.

    Raises:
        FileNotFoundError: ``path`` is missing.
        ValueError: naming ``path`` when it is not a notebook, has no ``parameters`` cell, or
            that cell does not parse or assigns a non-literal (the parameter is named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    try:
        cells = json.loads(path.read_text())["cells"]
        src = next(("".join(c["source"]) for c in cells
                    if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a notebook ({e})") from e
    if src is None:
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    try:
        body = ast.parse(src).body
    except SyntaxError as e:
        raise ValueError(f"{path}: the parameters cell does not parse ({e})") from e
    out: Dict[str, Any] = {}
    for node in body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if len(names) != len(targets):
            raise ValueError(f"{path}: the parameters cell assigns something other than names "
                             f"(line {node.lineno})")
        try:
            v = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError) as e:
            raise ValueError(f"{path}: parameter {names[0]!r} is not a literal") from e
        for n in names:
            out[n] = v
    return out


def show(fig, path: os.PathLike) -> Path:
    """Saves ``fig`` to ``path``, shows it in the notebook and closes it (:func:`save_and_close`
    with ``show=True``); returns the path."""
    return save_and_close(fig, path, show=True)


def note(notes: list, text: str) -> None:
    """Prints ``NOTE: text`` and appends ``text`` to ``notes`` (the list a notebook writes into
    its ``metrics.json``)."""
    print("NOTE:", text)
    notes.append(text)
