"""The failure kinds found on networks nascore did not write, each fixed as a kind: attention found by structure, functional
``out_proj``, inplace activations, overflow vs no path, non-finite inputs/gradients, stochastic
layers, BatchNorm1d heads."""

import copy
import math

import pytest
import torch
from torch import nn

from nascore.proxies import PROXIES, score
from nascore.proxies.losses import task_loss

from proxy_zoo import MHANet, conv_act_net, zoo

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run


def _seeded(fn, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return fn()


def _cls_batch(b=4, n=16, nan=False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 1, n, n, generator=g)
    if nan:
        x[1, 0, 3, 3] = float("nan")
    return x, torch.randint(0, 5, (b,), generator=g)


def test_dss_finds_monai_attention():
    build, batch, _ = zoo()["monai_unetr"]
    r = score("dss", _seeded(build), batch)
    assert r.ok and r.extra["cnn_fallback"] == 0.0 and math.isfinite(r.extra["log_attn_diversity"])


def _manual_fisher(m, x, y):
    """Fisher written out for MHANet: every Conv/Linear output kept with retain_grad()."""
    outs = []

    def keep(t):
        t.retain_grad()
        outs.append(t)
        return t

    c0 = keep(m.stem[0](x))
    h = m.stem[2](m.stem[1](c0))
    b, c, hh, ww = h.shape
    t = h.flatten(2).transpose(1, 2)
    t = t + keep(m.attn(t, t, t, need_weights=False)[0])  # = out_proj's output
    t = t + keep(m.fc2(m.act(keep(m.fc1(t)))))
    o = keep(m.out(t.transpose(1, 2).reshape(b, c, hh, ww)))
    task_loss(o, y).backward()
    tot = 0.0
    for a in outs:
        p = (a * a.grad).double()
        per = p.sum(1) if p.dim() == 3 else p.flatten(2).sum(-1)
        tot += float(0.5 * per.detach().pow(2).mean(0).sum())
    return tot


def test_fisher_reads_multihead_attention_out_proj():
    _, batch, _ = zoo()["mha_net"]
    net = _seeded(MHANet)
    r = score("fisher", net, batch)
    assert r.ok and r.extra["layers_unseen"] == 0.0
    assert r.value == pytest.approx(_manual_fisher(copy.deepcopy(net).train(), *batch), rel=1e-6)


@pytest.mark.parametrize("act", [nn.SiLU, nn.ELU])
def test_fisher_does_not_depend_on_inplace(act):
    batch = _cls_batch()
    a = _seeded(lambda: conv_act_net(lambda: act(inplace=True)))
    b = _seeded(lambda: conv_act_net(lambda: act(inplace=False)))
    ra, rb = score("fisher", a, batch), score("fisher", b, batch)
    assert ra.ok and ra.value == pytest.approx(rb.value, rel=1e-9)


def _deep_overflowing_net():
    layers = [nn.Linear(16, 16) for _ in range(230)]
    with torch.no_grad():
        for l in layers:
            l.weight.fill_(2.0)  # |linearised product| ~ 32^230 > float64 max
            l.bias.zero_()
        layers[-1].weight[0, 0] = 0.0  # one exact zero weight: 0 · inf = NaN downstream
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 16), *layers, nn.Linear(16, 5))


@pytest.mark.parametrize("name", ["synflow", "dss"])
def test_overflow_is_a_named_failure_not_no_path(name):
    x = torch.randn(2, 1, 4, 4)
    r = score(name, _deep_overflowing_net(), (x, torch.zeros(2, dtype=torch.long)))
    assert r.status == "overflow" and math.isnan(r.value), r


@pytest.mark.parametrize("name", PROXIES.names())
def test_nan_input_fails_every_data_reading_proxy(name):
    net = _seeded(lambda: conv_act_net(nn.ReLU))
    r = score(name, net, _cls_batch(nan=True), options={"tenas_samples": 4})
    if PROXIES.get(name).needs_data:
        assert r.status == "bad_input" and math.isnan(r.value)
    else:
        assert r.ok, r.error


class _SqrtNet(nn.Module):
    """sqrt(c²) at c = 0 exactly: 0 · inf = NaN gradients (|c| written the unsafe way)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()

    def forward(self, x):
        return self.fc(torch.sqrt(self.conv(x) ** 2).mean((2, 3)))


@pytest.mark.parametrize("name", ["grad_norm", "snip", "grasp", "fisher", "zico"])
def test_non_finite_gradients_are_a_failure(name):
    r = score(name, _SqrtNet(), _cls_batch())
    assert r.status == "nan" and "non-finite" in r.error, r


@pytest.mark.parametrize("name", ["zen", "naswot", "az_expressivity", "fisher", "jacob_cov"])
def test_dropout_does_not_change_a_proxy(name):
    batch = _cls_batch()
    with_drop = _seeded(lambda: conv_act_net(nn.ReLU, dropout=0.5))
    without = _seeded(lambda: conv_act_net(nn.ReLU, dropout=0.0))
    a, b = score(name, with_drop, batch, seed=1), score(name, without, batch, seed=1)
    assert a.ok and a.value == b.value


def test_multihead_attention_dropout_is_off_and_restored():
    net = _seeded(MHANet)
    net.attn.dropout = 0.5
    _, batch, _ = zoo()["mha_net"]
    a, b = score("zen", net, batch), score("jacob_cov", net, batch)
    net.attn.dropout = 0.0
    assert a.value == score("zen", net, batch).value and b.value == score("jacob_cov", net, batch).value
    net.attn.dropout = 0.5
    score("zen", net, batch)
    assert net.attn.dropout == 0.5


def test_az_nas_with_batchnorm1d_head():
    net = _seeded(lambda: nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 5)))
    for name in ("az_nas", "flops"):
        r = score(name, net, _cls_batch())
        assert r.ok, (name, r.error)


@pytest.mark.parametrize("name", ["naswot", "swap", "tenas"])
def test_no_activation_is_empty_layers(name):
    net = _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(256, 5)))
    r = score(name, net, _cls_batch(), options={"tenas_samples": 4})
    assert r.status == "empty_layers" and math.isnan(r.value), r


def test_functional_activations_are_read():
    """The same codes whether ReLU is a module or applied functionally."""

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    f = _seeded(Functional)
    m = nn.Sequential(f.conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), f.fc)
    for name in ("naswot", "swap"):
        assert score(name, f, _cls_batch()).value == score(name, m, _cls_batch()).value


def _tiny_seg_net():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))


@pytest.mark.parametrize("name", sorted(PROXIES.names()))
def test_empty_batch_is_bad_input(name):
    net = _tiny_seg_net()
    x, y = torch.rand(0, 3, 8, 8), torch.zeros(0, 1, 8, 8)
    r = score(name, net, (x, y))
    assert r.status == "bad_input" and math.isnan(r.value), (name, r.status, r.error)


@pytest.mark.parametrize("name", [n for n in sorted(PROXIES.names()) if PROXIES.get(n).needs_targets])
def test_nan_targets_are_bad_input(name):
    x, y = torch.rand(2, 3, 8, 8), torch.full((2, 1, 8, 8), float("nan"))
    r = score(name, _tiny_seg_net(), (x, y))
    assert r.status == "bad_input", (name, r.status, r.error)


def test_integer_inputs_and_a_bare_tensor():
    net = _tiny_seg_net()
    y = torch.zeros(2, 1, 8, 8)
    r = score("synflow" if not PROXIES.get("synflow").needs_data else "naswot", net,
              (torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), y))
    assert r.status in ("bad_input", "ok")
    assert score("naswot", net, (torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), y)).status == "bad_input"
    with pytest.raises(TypeError, match="pair"):
        score("naswot", net, torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("name", sorted(PROXIES.names()))
def test_batchnorm1d_head_never_breaks_a_proxy(name):
    """Batch-1 passes (FLOPs count, linearised forward) run in eval mode: a BatchNorm1d head
    scores like any other network (case 7, as a whole kind)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    r = score(name, net, (torch.rand(4, 3, 8, 8), torch.randint(0, 10, (4,))))
    assert r.status != "error", (name, r.error)


# --- networks users bring: found by structure, scored or refused by name, never an error ----
def test_per_sample_regroups_patch_unfolded_and_sequence_first_activations():
    from nascore.proxies import ProxyFailure
    from nascore.proxies._utils import per_sample

    a = torch.arange(2 * 3 * 5.0).reshape(2 * 3, 5)  # (B*P, C), batch-major
    rows, moved = per_sample(a, 2)
    assert moved and rows.shape == (2, 15) and torch.equal(rows[1], a[3:].reshape(-1))
    s = torch.arange(7 * 2 * 4.0).reshape(7, 2, 4)  # (L, B, C): sequence-first
    rows, moved = per_sample(s, 2)
    assert moved and torch.equal(rows[1], s[:, 1].reshape(-1))
    plain = torch.ones(2, 3, 4)
    assert per_sample(plain, 2)[1] is False
    with pytest.raises(ProxyFailure) as e:
        per_sample(torch.ones(3, 5), 2)
    assert e.value.status == "unbatched"


def test_patch_unfolding_is_regrouped_and_counted():
    from proxy_zoo import mobilevit_net

    torch.manual_seed(0)
    net = mobilevit_net()
    batch = (torch.randn(4, 1, 16, 16), torch.randint(0, 5, (4,)))
    for name in ("naswot", "swap"):
        r = score(name, net, batch, seed=0)
        assert r.ok and r.extra["regrouped_activations"] >= 1, (name, r.error)
    assert score("hybrid", net, batch, seed=0).ok


def test_a_cached_non_leaf_tensor_does_not_stop_the_copy():
    from proxy_zoo import bias_cache_net

    from nascore.proxies._utils import copy_model

    torch.manual_seed(0)
    net = bias_cache_net()
    with pytest.raises(RuntimeError, match="deepcopy"):
        copy.deepcopy(net)
    twin = copy_model(net)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), twin.state_dict().values()))
    assert twin.attn[0].attention_biases is not net.attn[0].attention_biases
    batch = (torch.randn(4, 1, 16, 16), torch.randint(0, 5, (4,)))
    assert score("synflow", net, batch, seed=0).ok and score("hybrid", net, batch, seed=0).ok


@pytest.mark.parametrize("kind", ["stacked", "list"])
def test_deep_supervision_outputs_score_the_full_resolution_head_and_say_so(kind):
    from monai.networks.nets import DynUNet, SegResNetDS

    torch.manual_seed(0)
    net = (DynUNet(2, 1, 1, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2],
                   filters=[4, 8, 8], deep_supervision=True, deep_supr_num=1) if kind == "stacked"
           else SegResNetDS(2, init_filters=4, in_channels=1, out_channels=1, blocks_down=(1, 1, 1),
                            dsdepth=2))
    batch = (torch.randn(2, 1, 16, 16), torch.randint(0, 2, (2, 16, 16)))
    r = score("snip", net.train(), batch, seed=0)
    assert r.ok, r.error
    assert "output=deep supervision: head 0 of 2" in r.layers
    # the same value as scoring the full-resolution head alone
    from nascore.proxies.losses import as_logits

    out = net(batch[0])
    head = as_logits(out, batch[0])
    assert head.shape == (2, 1, 16, 16)
    assert score("params", net, batch).layers == ""
