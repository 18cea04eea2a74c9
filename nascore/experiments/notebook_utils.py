"""Small helpers the notebooks' cells share: threads and device, showing and saving figures,
notes, and reading a notebook's parameters cell."""

from __future__ import annotations

import ast
import copy
import json
import os
from collections.abc import MutableMapping
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


def _find_notebook(name: str) -> Path:
    for p in (Path.cwd() / name, Path(__file__).resolve().parents[2] / "notebooks" / name):
        if p.is_file():
            return p
    raise FileNotFoundError(f"notebook {name!r} not found in {Path.cwd()} or the repository's "
                            "notebooks/ folder")


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):  # "all" stands for every registered name
        return isinstance(value, (list, tuple)) or value == "all"
    return isinstance(value, type(default))


class NotebookConfig(MutableMapping):
    """The parameters of a running notebook, read live from its variables, plus entries the
    notebook adds (``config["run_key"] = ...``): what every result file records as its config.

    The parameters are exactly the names the notebook's ``parameters`` cell declares (read from
    the notebook file, :func:`notebook_defaults`), so rerunning the setup cell picks up nothing
    else, and a value changed in a later cell (``lr = 0.01``) is what the library reads and the
    provenance records from then on. Build it right after the parameters cell::

        config = NotebookConfig(globals(), "04_segmentation_finetune.ipynb")

    Args:
        namespace: the notebook's ``globals()``.
        notebook: the notebook's file name, found in the working directory (Jupyter and
            papermill ``--cwd notebooks`` run there) or in the repository's ``notebooks/``.

    Raises:
        FileNotFoundError: the notebook file is not found.
        ValueError: naming the parameter, when a value does not have the type of its default
            (``-p proxies synflow`` passes a string where a list is declared; use ``-y``). A
            list parameter may also be ``"all"``, and any parameter None.
        KeyError: on assigning a declared parameter through the mapping (assign the variable).
    """

    def __init__(self, namespace: Dict[str, Any], notebook: str) -> None:
        self.path = _find_notebook(notebook)
        self._defaults = notebook_defaults(self.path)
        self._ns = namespace
        self._extra: Dict[str, Any] = {}
        self.check()

    def check(self) -> None:
        """Checks every parameter's current value against the type of its default (None is
        allowed for any); raises ValueError naming the first that differs."""
        for k, d in self._defaults.items():
            v = self._ns.get(k, d)
            if not _type_ok(d, v):
                hint = (" (papermill -p passes a string; pass lists and dicts with -y, e.g. "
                        f"-y '{k}: [a, b]')" if isinstance(v, str) and isinstance(d, (list, tuple, dict))
                        else "")
                raise ValueError(f"{self.path.name}: parameter {k!r} must be a "
                                 f"{type(d).__name__} like its default {d!r}, got {v!r} "
                                 f"({type(v).__name__}){hint}")

    def __getitem__(self, k: str) -> Any:
        if k in self._extra:
            return self._extra[k]
        if k in self._defaults:
            return copy.deepcopy(self._ns.get(k, self._defaults[k]))
        raise KeyError(k)

    def __setitem__(self, k: str, v: Any) -> None:
        if k in self._defaults:
            raise KeyError(f"{k!r} is a parameter of {self.path.name}: assign the variable "
                           f"({k} = ...) instead")
        self._extra[k] = v

    def __delitem__(self, k: str) -> None:
        del self._extra[k]

    def __iter__(self):
        yield from self._defaults
        yield from (k for k in self._extra if k not in self._defaults)

    def __len__(self) -> int:
        return len(self._defaults) + sum(k not in self._defaults for k in self._extra)

    def __repr__(self) -> str:
        return f"NotebookConfig({self.path.name}: {dict(self)!r})"
