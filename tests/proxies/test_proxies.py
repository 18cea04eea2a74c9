"""Every registered proxy on a tiny NB201 cell net, a tiny hybrid seg net and a tiny ViT."""

import math

import pytest
import torch

from nascore.arch import example_arch
from nascore.bench.nb201 import build_nb201_net
from nascore.bench.vit import build_autoformer_vit
from nascore.build import build_model
from nascore.proxies import PROXIES, rank_aggregate, score
from nascore.proxies.losses import target_kind, task_loss

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
OPTS = {"tenas_samples": 4}


def _seeded(fn, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return fn()


def tiny_nets():
    g = torch.Generator().manual_seed(0)
    x16 = torch.randn(6, 3, 16, 16, generator=g)
    x32 = torch.randn(6, 3, 32, 32, generator=g)
    return {
        "nb201": (_seeded(lambda: build_nb201_net(CELL, C=4, N=1)),
                  (x16, torch.randint(0, 10, (6,), generator=g))),
        "hybrid_seg": (_seeded(lambda: build_model(example_arch("hybrid", 32), 3, 2)),
                       (x32, torch.randint(0, 2, (6, 32, 32), generator=g))),
        "vit": (_seeded(lambda: build_autoformer_vit(24, 2, [2.0, 3.0], [2, 3], num_classes=10,
                                                    img_size=16, patch_size=4, head_dim=8)),
                (x16, torch.randint(0, 10, (6,), generator=g))),
    }


NETS = tiny_nets()


@pytest.mark.parametrize("kind", list(NETS))
@pytest.mark.parametrize("name", PROXIES.names())
def test_every_proxy_finite_on_three_net_kinds(name, kind):
    model, batch = NETS[kind]
    r = score(name, model, batch, seed=0, options=OPTS)
    assert r.status == "ok", (name, kind, r.error)
    assert math.isfinite(r.value)
    assert r.time_s >= 0 and r.higher_is_better == PROXIES.get(name).higher_is_better


def test_registry_lists_issue_proxies():
    want = {"params", "flops", "grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov",
            "naswot", "zen", "zico", "meco", "swap", "tenas", "az_expressivity",
            "az_progressivity", "az_trainability", "az_nas", "dss", "hybrid"}
    assert want <= set(PROXIES.names())
    assert all(PROXIES.get(n).__doc__ or PROXIES.get(n).fn.__doc__ for n in PROXIES.names())


def test_params_and_flops_match_analytic_counts():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    batch = (torch.zeros(3, 3, 2, 2), torch.zeros(3, dtype=torch.long))
    assert score("params", net, batch).value == 12 * 5 + 5
    assert score("flops", net, batch).value == 12 * 5  # MACs per sample


def test_flops_count_explicit_attention():
    from nascore.blocks import MHSA

    class Tok(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = MHSA(8, 2)

        def forward(self, x):
            return self.attn(x.flatten(2).transpose(1, 2)).mean(1)

    n, d = 16, 8
    r = score("flops", Tok(), (torch.zeros(2, d, 4, 4), torch.zeros(2, dtype=torch.long)))
    linear = n * d * 3 * d + n * d * d
    attn = 2 * n * n * d  # QK^T and AV, MACs
    assert r.value == linear + attn


def test_dense_losses_by_target_shape():
    logits = torch.randn(2, 3, 4, 4)
    m = torch.randint(0, 3, (2, 4, 4))
    assert target_kind(logits, m) == "dense"
    assert torch.allclose(task_loss(logits, m), task_loss(logits, m[:, None]))
    b = torch.randn(2, 1, 4, 4)
    assert target_kind(b, m) == "binary_dense"
    ref = torch.nn.functional.binary_cross_entropy_with_logits(b[:, 0], (m > 0).float())
    assert torch.allclose(task_loss(b, m), ref)
    assert target_kind(torch.randn(2, 5), torch.tensor([1, 2])) == "class"
    with pytest.raises(ValueError):
        target_kind(torch.randn(2, 5), m)


def test_rank_aggregate_ranks_failures_last():
    import pandas as pd

    t = pd.DataFrame({"a": [1.0, 2.0, 3.0, float("nan")], "b": [3.0, 2.0, 1.0, float("-inf")]})
    s = rank_aggregate(t, ["a", "b"], higher_is_better={"b": False})
    assert s.iloc[3] == s.min()
    # b reversed, so net 2 (a=3, b=1) is best on both
    assert s.idxmax() == 2
    with pytest.raises(KeyError, match="zz"):
        rank_aggregate(t, ["zz"])


def test_proxy_files_compose_primitives_and_never_import_each_other():
    import ast
    import importlib
    from pathlib import Path

    shared = {"base", "_utils", "signals", "layers", "losses"}
    modules = {PROXIES.get(n).fn.__module__ for n in PROXIES.names()}
    proxy_files = {m.rsplit(".", 1)[1] for m in modules}
    assert not proxy_files & shared
    for mod in modules:
        tree = ast.parse(Path(importlib.import_module(mod).__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                assert not set(names) & proxy_files, (mod, names)
