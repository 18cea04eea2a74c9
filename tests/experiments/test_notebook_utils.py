"""Helpers shared by the notebook drivers."""

import matplotlib

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
