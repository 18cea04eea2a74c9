"""Every proxy against a value computed independently, by a direct formula, on a tiny net.

The net is ``Conv2d(1, 3, 1) -> ReLU -> Flatten -> Linear(12, 2)`` on inputs ``(4, 1, 2, 2)``:
the 1x1 conv is ``a[n,c,p] = w[c]·x[n,p] + b[c]`` over the 4 pixels ``p``, so every forward,
gradient, Jacobian and linearisation below is written out by hand (no hooks, no proxy code).
"""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from nascore.proxies import PROXIES, score
from nascore.proxies.aznas import AZ_REF

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

B = 4


def _setup():
    with torch.random.fork_rng():
        torch.manual_seed(3)
        net = nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, 1, 2, 2, generator=g)
    y = torch.tensor([0, 1, 1, 0])
    return net, (x, y)


NET, BATCH = _setup()


def _p(net):
    c, l = net[0], net[3]
    return (c.weight.detach().double().reshape(3), c.bias.detach().double(),
            l.weight.detach().double(), l.bias.detach().double())


def fwd(w, b, W, bb, x):
    """(pixels xp (n,4), pre-activation a (n,3,4), flattened h (n,12), logits z (n,2))."""
    xp = x.double().reshape(x.shape[0], 4)
    a = w[None, :, None] * xp[:, None, :] + b[None, :, None]
    h = a.clamp_min(0).reshape(x.shape[0], 12)
    return xp, a, h, h @ W.T + bb


def ce_grads(params, x, y):
    """Analytic gradients of mean cross-entropy: (dw (3,), dW (2,12), da (n,3,4), dz (n,2))."""
    w, b, W, bb = params
    xp, a, h, z = fwd(w, b, W, bb, x)
    dz = (torch.softmax(z, 1) - torch.nn.functional.one_hot(y, 2).double()) / x.shape[0]
    dW = dz.T @ h
    da = (dz @ W).reshape(-1, 3, 4) * (a > 0)
    dw = (da * xp[:, None, :]).sum((0, 2))
    return dw, dW, da, dz


def ref_grad_norm():
    dw, dW, _, _ = ce_grads(_p(NET), *BATCH)
    return float(dw.norm() + dW.norm())


def ref_snip():
    w, _, W, _ = _p(NET)
    dw, dW, _, _ = ce_grads(_p(NET), *BATCH)
    return float((dw * w).abs().sum() + (dW * W).abs().sum())


def ref_fisher():
    w, b, W, bb = _p(NET)
    _, a, _, z = fwd(w, b, W, bb, BATCH[0])
    _, _, da, dz = ce_grads(_p(NET), *BATCH)
    conv = 0.5 * ((a * da).sum(2) ** 2).mean(0).sum()
    lin = 0.5 * ((z * dz) ** 2).mean(0).sum()
    return float(conv + lin)


def ref_grasp():
    w, b, W, bb = _p(NET)
    x, y = BATCH

    def loss(w_, W_):
        return torch.nn.functional.cross_entropy(fwd(w_, b, W_, bb, x)[3], y)

    g = torch.func.grad(loss, argnums=(0, 1))(w, W)
    _, hg = torch.func.jvp(torch.func.grad(loss, argnums=(0, 1)), (w, W), g)
    return float(-(w * hg[0]).sum() - (W * hg[1]).sum())


def ref_synflow():
    w, b, W, bb = (t.abs() for t in _p(NET))
    hf = (w + b).repeat_interleave(4)  # all-ones input: every pixel of channel c is w_c + b_c
    s_lin = (W * hf[None, :]).sum()
    s_conv = (w * W.sum(0).reshape(3, 4).sum(1)).sum()
    return math.log(float(s_lin + s_conv))


def ref_jacob_cov():
    w, b, W, bb = _p(NET)
    _, a, _, _ = fwd(w, b, W, bb, BATCH[0])
    jac = (w[None, :, None] * (a > 0) * W.sum(0).reshape(3, 4)[None]).sum(1).numpy()
    lam = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0, None)
    return float(-(np.log(lam + 1e-5) + 1 / (lam + 1e-5)).sum())


def _codes():
    w, b, W, bb = _p(NET)
    return (fwd(w, b, W, bb, BATCH[0])[1] > 0).reshape(B, 12).numpy()


def ref_naswot():
    c = _codes()
    k = (c[:, None, :] == c[None, :, :]).sum(-1).astype(float)
    return float(np.linalg.slogdet(k)[1])


def ref_swap():
    n_unique = len({tuple(col) for col in _codes().T})
    p = sum(t.numel() for t in _p(NET)) / 1e6
    return math.log(n_unique) - (p - 1.5) ** 2 / 1.5


def ref_meco():
    w, b, W, bb = _p(NET)
    _, a, _, _ = fwd(w, b, W, bb, BATCH[0])
    tot = 0.0
    for f in (a[0], a[0].clamp_min(0)):  # conv output and ReLU output, sample 0: (3 ch, 4 px)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.nan_to_num(np.corrcoef(f.numpy()), nan=0.0, posinf=0.0, neginf=0.0)
        tot += float(np.linalg.eigvalsh(c).min())
    return tot


def ref_zico():
    x, y = BATCH
    per = [ce_grads(_p(NET), x[i:i + 2], y[i:i + 2])[:2] for i in (0, 2)]
    tot = 0.0
    for layer in range(2):
        g = torch.stack([p[layer].reshape(-1) for p in per])
        sd = g.std(0, unbiased=False)
        nz = sd > 0
        tot += math.log(float((g.abs().mean(0)[nz] / sd[nz]).sum()))
    return tot


def ref_tenas():
    w, b, W, bb = _p(NET)
    xp, a, h, _ = fwd(w, b, W, bb, BATCH[0])
    dh = W.sum(0).reshape(3, 4)[None] * (a > 0)  # ∂Σz/∂a per sample
    rows = torch.cat([(dh * xp[:, None, :]).sum(2), dh.sum(2), h.repeat(1, 2),
                      torch.ones(B, 2, dtype=torch.float64)], 1)
    lam = np.linalg.eigvalsh((rows @ rows.T).numpy())
    codes = (a > 0).permute(0, 2, 1).reshape(-1, 3).numpy()
    return math.log(len({tuple(c) for c in codes})) - math.log(lam[-1] / lam[0])


def ref_zen():
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the harness seed; weights ~ N(0, 1) in module order, biases 0
        w = torch.randn(3, 1, 1, 1).double().reshape(3)
        W = torch.randn(2, 12).double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, 1, 2, 2, generator=g)
    x2 = x + 0.01 * torch.randn(B, 1, 2, 2, generator=g)
    zero3, zero2 = torch.zeros(3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    f1 = fwd(w, zero3, W, zero2, x.float())[3]
    f2 = fwd(w, zero3, W, zero2, x2.float())[3]
    return math.log(float((f1 - f2).abs().sum(1).mean()))


def _entropy(rows):
    r = rows - rows.mean(0, keepdims=True)
    s = np.clip(np.linalg.eigvalsh(r.T @ r / r.shape[0]), 0, None)
    p = s / s.sum()
    return float((-p * np.log(p + 1e-8)).sum())


def _aznet():
    """Conv(1,3,1) -> ReLU -> Conv(3,3,1) -> ReLU -> Flatten -> Linear(12,2): its blocks (the
    parameterised children) give one alignable block pair (conv1 -> conv2) for trainability."""
    return nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU(), nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(12, 2))


def ref_az():
    with torch.random.fork_rng():
        torch.manual_seed(0)  # Kaiming normal fan-in (ReLU gain) in module order, biases 0
        w1 = (torch.randn(3, 1, 1, 1) * math.sqrt(2.0)).double().reshape(3)
        w2 = (torch.randn(3, 3, 1, 1) * math.sqrt(2.0 / 3)).double().reshape(3, 3)
        W = (torch.randn(2, 12) * math.sqrt(2.0 / 12)).double()
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(B, 1, 2, 2, generator=g)
    xp = noise.double().reshape(B, 4)
    a1 = w1[None, :, None] * xp[:, None, :]              # (n, 3, 4)
    a2 = torch.einsum("dc,ncp->ndp", w2, a1.clamp_min(0))
    z = a2.clamp_min(0).reshape(B, 12) @ W.T
    pts = lambda t: t.permute(0, 2, 1).reshape(-1, t.shape[1]).numpy()  # noqa: E731
    ex = [_entropy(xp.reshape(-1, 1).numpy()), _entropy(pts(a1)), _entropy(pts(a2)), _entropy(z.numpy())]
    torch.randint(0, 2, (B, 2), generator=g)  # drawn for the (conv2 -> head) pair: not alignable
    r = (torch.randint(0, 2, (B, 3, 2, 2), generator=g) * 2 - 1).double().reshape(B, 3, 4)
    g_in = torch.einsum("dc,ndp->ncp", w2, r) * (a1 > 0)  # (input -> conv1): input has no grad
    mat = pts(g_in).T @ pts(r) / (B * 4)
    s = float(np.linalg.norm(mat, 2))
    comp = {"expressivity": sum(ex), "progressivity": min(np.diff(ex)),
            "trainability": -s - 1 / (s + 1e-6) + 2, "log_complexity": math.log(12 + 36 + 24)}
    comp["az_nas"] = sum(float(norm.logcdf((comp[k] - m) / sd)) for k, (m, sd) in AZ_REF.items())
    return comp


REFERENCES = {
    "params": lambda: 3 + 3 + 24 + 2,
    "flops": lambda: 3 * 4 + 12 * 2,  # MACs per sample
    "grad_norm": ref_grad_norm, "snip": ref_snip, "grasp": ref_grasp, "fisher": ref_fisher,
    "synflow": ref_synflow, "dss": ref_synflow,  # no attention/MLP: DSS is SynFlow
    "jacob_cov": ref_jacob_cov, "naswot": ref_naswot, "swap": ref_swap, "meco": ref_meco,
    "zico": ref_zico, "tenas": ref_tenas, "zen": ref_zen,
    "az_expressivity": lambda: ref_az()["expressivity"],
    "az_progressivity": lambda: ref_az()["progressivity"],
    "az_trainability": lambda: ref_az()["trainability"],
    "az_nas": lambda: ref_az()["az_nas"],
}


#: The proxies shipped with nascore; each has a direct-formula reference above or a test of its
#: own (hybrid_v1: below; hybrid (v3): test_hybrid_v3.py; hybrid_v2: test_hybrid_v2.py). A proxy
#: a user adds is not required to be listed here: the tests parametrized over PROXIES.names()
#: (harness, zoo, failure kinds) pick it up without any edit, and a reference is welcome.
SHIPPED = {"params", "flops", "grad_norm", "snip", "grasp", "fisher", "synflow", "dss",
           "jacob_cov", "naswot", "swap", "meco", "zico", "tenas", "zen", "az_expressivity",
           "az_progressivity", "az_trainability", "az_nas", "hybrid", "hybrid_v1", "hybrid_v2"}
OWN_TESTS = {"hybrid", "hybrid_v1", "hybrid_v2"}


def test_every_shipped_proxy_is_registered_and_has_a_reference():
    assert SHIPPED <= set(PROXIES.names())
    assert SHIPPED - OWN_TESTS <= set(REFERENCES), sorted(SHIPPED - OWN_TESTS - set(REFERENCES))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_proxy_matches_direct_formula(name):
    net = _aznet() if name.startswith("az_") else NET
    r = score(name, net, BATCH, seed=0)
    assert r.ok, r.error
    assert r.value == pytest.approx(REFERENCES[name](), rel=2e-5, abs=1e-6)


def test_hybrid_components_match_direct_formulas():
    from nascore.proxies.hybrid.hybrid_v1 import hybrid_value

    r = score("hybrid_v1", NET, BATCH, seed=0)
    assert r.ok, r.error
    assert r.extra["attn_share"] == 0.0
    assert r.extra["log_params"] == pytest.approx(math.log(32))
    assert r.extra["log_flops"] == pytest.approx(math.log(36))
    assert r.extra["log_dss"] == pytest.approx(ref_synflow(), rel=1e-9)
    assert r.value == pytest.approx(hybrid_value(r.extra), rel=1e-12)
