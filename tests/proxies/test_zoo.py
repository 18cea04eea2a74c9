"""Every registered proxy on networks nascore did not write: MONAI UNet, UNETR,
SwinUNETR, SegResNet, an ``nn.TransformerEncoder`` classifier, a net with
``nn.MultiheadAttention``, and small nets with inplace SiLU/ELU, dropout and squeeze-excitation.

For each (proxy, net): the score is finite with status ok, or one of the named failures listed
in :data:`EXPECTED_FAILURES` (never a number for a failure); the caller's model is untouched
(state_dict, every module's training flag); attention/MLP layers are found by structure.
"""

import functools
import math

import pytest
import torch

from nascore.proxies import PROXIES, STATUSES, score
from nascore.proxies.hybrid import hybrid_v1 as H
from nascore.proxies.layers import discover

from proxy_zoo import expected_attention_share, zoo

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

ZOO = zoo()
OPTS = {"tenas_samples": 4}
#: (net, proxy) -> status: failures the proxies name on purpose.
EXPECTED_FAILURES = {}  # none: every proxy scores every zoo network


@functools.lru_cache(maxsize=None)
def _model(net):
    build, batch, _ = ZOO[net]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = build()
    return m, batch


@pytest.mark.parametrize("net", list(ZOO))
@pytest.mark.parametrize("name", PROXIES.names())
def test_every_proxy_on_the_zoo(name, net):
    model, batch = _model(net)
    model.train()
    first = next(model.children(), None)
    if first is not None:
        first.eval()  # mixed modes must survive
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = score(name, model, batch, seed=0, options=OPTS)
    want = EXPECTED_FAILURES.get((net, name), "ok")
    assert r.status == want, (r.status, r.error)
    assert r.status in STATUSES
    if r.ok:
        assert math.isfinite(r.value)
    else:
        assert math.isnan(r.value) and r.error
    assert [m.training for m in model.modules()] == modes
    after = model.state_dict()
    assert list(after) == list(state)
    for k, v in state.items():
        assert after[k].dtype == v.dtype and torch.equal(after[k], v), k


@pytest.mark.parametrize("net", list(ZOO))
def test_attention_share_matches_a_direct_count(net):
    model, batch = _model(net)
    found = discover(model, batch[0])
    assert found.method == "structure", found.note
    assert H.attention_share(model, batch[0]) == pytest.approx(
        expected_attention_share(model, ZOO[net][2]), abs=1e-12)


@pytest.mark.parametrize("name", ["dss", "hybrid"])
def test_layer_discovery_path_is_recorded(name):
    model, batch = _model("monai_unetr")
    r = score(name, model, batch, seed=0)
    assert r.ok and "attention=structure" in r.layers
    assert ("blocks=" in r.layers) == (name == "hybrid")
    assert score("params", model, batch).layers == ""
    assert score("az_nas", model, batch).layers.startswith("blocks=")
