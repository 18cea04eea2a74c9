"""Helpers shared by the notebook drivers."""

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nascore.experiments.notebook_utils import save_and_close, torch_setup  # noqa: E402


def test_save_and_close_writes_the_png_and_closes_the_figure(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_and_close(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
    assert [p.name for p in path.parent.iterdir()] == ["f.png"]  # no temporary left


def test_show_displays_the_saved_png_inside_ipython(tmp_path, monkeypatch):
    """Under the notebooks' Agg backend plt.show() shows nothing, so in IPython the PNG is
    displayed; outside IPython plt.show() is called."""
    import IPython
    import IPython.display

    import nascore.experiments.notebook_utils as nu

    shown, calls = [], []
    monkeypatch.setattr(nu, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(plt, "show", lambda *a, **k: calls.append("show"))
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # "inside a kernel"
    fig, _ = plt.subplots()
    path = save_and_close(fig, tmp_path / "g.png", show=True)
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Image)
    assert shown[0].data == path.read_bytes() and calls == []
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # plain Python
    save_and_close(plt.subplots()[0], tmp_path / "h.png", show=True)
    assert calls == ["show"] and len(shown) == 1
    save_and_close(plt.subplots()[0], tmp_path / "i.png")  # show=False: neither
    assert calls == ["show"] and len(shown) == 1


def test_torch_setup_sets_threads_and_resolves_the_device():
    n = torch.get_num_threads()
    try:
        assert torch_setup({"num_threads": 1, "device": "cpu"}) == "cpu"
        assert torch.get_num_threads() == 1
        assert torch_setup({"num_threads": 0}) in ("cpu", "cuda")
        assert torch.get_num_threads() == 1  # 0: left as it was
    finally:
        torch.set_num_threads(n)


def _nb(tmp_path, src):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    p = tmp_path / "n.ipynb"
    nbformat.write(nb, p)
    return p


def test_notebook_config_reads_the_declared_parameters_live(tmp_path, monkeypatch):
    from nascore.experiments.notebook_utils import NotebookConfig

    _nb(tmp_path, "lr = 0.001\nproxies = ['a']\nseed = 0\nnote = None\n")
    monkeypatch.chdir(tmp_path)
    ns = {"lr": 0.001, "proxies": ["a"], "seed": 0, "note": None, "later": [1], "config": {}}
    c = NotebookConfig(ns, "n.ipynb")
    assert dict(c) == {"lr": 0.001, "proxies": ["a"], "seed": 0, "note": None}  # nothing else
    ns["lr"] = 0.01  # a later cell changes a parameter: the library and provenance see it
    c["run_key"] = "k"
    assert c["lr"] == 0.01 and dict(c)["run_key"] == "k" and len(c) == 5
    c2 = NotebookConfig(dict(ns, config=c, more="x"), "n.ipynb")  # the setup cell rerun
    assert set(c2) == {"lr", "proxies", "seed", "note"}
    with pytest.raises(KeyError, match="assign the variable"):
        c["lr"] = 1.0
    ns["proxies"].append("b")
    assert c["proxies"] == ["a", "b"] and c["proxies"] is not ns["proxies"]  # a copy


@pytest.mark.parametrize("name,value,ok", [
    ("proxies", "synflow", False), ("proxies", "all", True), ("proxies", ("x",), True),
    ("seed", "abc", False), ("seed", True, False), ("lr", 1, True), ("lr", "0.1", False),
    ("note", 5, True), ("seed", None, True)])
def test_notebook_config_checks_types_against_the_defaults(tmp_path, monkeypatch, name, value, ok):
    from nascore.experiments.notebook_utils import NotebookConfig

    _nb(tmp_path, "lr = 0.001\nproxies = ['a']\nseed = 0\nnote = None\n")
    monkeypatch.chdir(tmp_path)
    ns = {"lr": 0.001, "proxies": ["a"], "seed": 0, "note": None, name: value}
    if ok:
        NotebookConfig(ns, "n.ipynb")
    else:
        with pytest.raises(ValueError, match=f"n.ipynb: parameter '{name}' must be"):
            NotebookConfig(ns, "n.ipynb")


def test_notebook_config_finds_the_repository_notebook_from_anywhere(tmp_path, monkeypatch):
    from nascore.experiments.notebook_utils import NotebookConfig, notebook_defaults
    from nascore.paths import repo_root

    monkeypatch.chdir(tmp_path)
    nb = repo_root() / "notebooks" / "02_proxy_correlation.ipynb"
    c = NotebookConfig({}, nb.name)  # no variables yet: the defaults
    assert dict(c) == notebook_defaults(nb)
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        NotebookConfig({}, "nope.ipynb")
