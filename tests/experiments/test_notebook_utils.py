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


def test_torch_setup_sets_threads_and_resolves_the_device():
    n = torch.get_num_threads()
    try:
        assert torch_setup({"num_threads": 1, "device": "cpu"}) == "cpu"
        assert torch.get_num_threads() == 1
        assert torch_setup({"num_threads": 0}) in ("cpu", "cuda")
        assert torch.get_num_threads() == 1  # 0: left as it was
    finally:
        torch.set_num_threads(n)
