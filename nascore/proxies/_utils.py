"""Shared plumbing: layer types, hooks, the loss backward, re-initialisation, block features.

Signal primitives (spectra, linearisation, codes, block signals) live in
:mod:`nascore.proxies.signals`; attention/MLP discovery in :mod:`nascore.proxies.layers`.
"""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from typing import Callable, Iterator, List, Sequence, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .losses import as_logits
from .status import ProxyFailure

#: Layers whose weights the gradient proxies (snip, grad_norm, grasp, fisher, synflow, zico) use.
WEIGHT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                nn.ConvTranspose3d, nn.Linear)
#: Activation modules whose pre-activation sign gives a unit's binary code (naswot, swap, tenas).
ACT_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Hardswish,
             nn.Mish, nn.CELU, nn.SELU)
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
              nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)
_BLOCK_RE = re.compile(r"(block|cell)$", re.IGNORECASE)
_NOT_BLOCK_RE = re.compile(r"(out|head)", re.IGNORECASE)


def weight_layers(model: nn.Module) -> List[nn.Module]:
    """Conv/Linear layers with a trainable ``weight``, in module order."""
    return [m for m in model.modules()
            if isinstance(m, WEIGHT_TYPES) and getattr(m, "weight", None) is not None
            and m.weight.requires_grad]


def nonempty(layers: List[nn.Module], what: str) -> List[nn.Module]:
    """``layers``, or a ``ProxyFailure("empty_layers")`` naming ``what`` when there are none."""
    if not layers:
        raise ProxyFailure("empty_layers", f"the network has no {what}")
    return layers


#: Functional forms of :data:`ACT_TYPES` (``F.relu``, ``torch.relu``, ``Tensor.gelu``, ...).
ACT_FUNCS = ("relu", "relu6", "leaky_relu", "prelu", "gelu", "silu", "elu", "hardswish", "mish",
             "celu", "selu")


class _FunctionalActs(TorchFunctionMode):
    def __init__(self, stack, fn):
        super().__init__()
        self.stack, self.fn = stack, fn

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "").rstrip("_")
        if name in ACT_FUNCS and self.stack and not isinstance(self.stack[-1], ACT_TYPES) \
                and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            self.fn(self.stack[-1], (args[0],), out)
        return out


@contextmanager
def activation_calls(model: nn.Module, fn: Callable) -> Iterator[List[int]]:
    """Calls ``fn(module, (pre_activation,), output)`` at every ReLU-like activation of a forward
    of ``model`` inside the ``with`` block, in execution order: activation modules (:data:`ACT_TYPES`,
    forward hooks) and activations applied functionally outside them (``F.relu`` inside
    ``nn.TransformerEncoderLayer``, seen by a ``TorchFunctionMode``; ``module`` is then the
    module that called it). Yields a one-element list holding the number of calls, so the caller
    can raise ``ProxyFailure("empty_layers")`` when the net has no activation at all.
    """
    stack: List[nn.Module] = []
    count = [0]

    def counted(mod, inp, out):
        count[0] += 1
        return fn(mod, inp, out)

    def push(mod, inp):
        stack.append(mod)

    def pop(mod, inp, out):
        stack.pop()

    mods = list(model.modules())
    with hooks(mods, push, "pre"), hooks(mods, pop), \
            hooks([m for m in mods if isinstance(m, ACT_TYPES)], counted), _FunctionalActs(stack, counted):
        yield count


def _non_leaf_tensors(obj, depth: int = 0):
    """Non-leaf tensors held in a module attribute (dicts, lists and tuples searched)."""
    if isinstance(obj, torch.Tensor):
        if not obj.is_leaf:
            yield obj
    elif depth < 4 and isinstance(obj, dict):
        for v in obj.values():
            yield from _non_leaf_tensors(v, depth + 1)
    elif depth < 4 and isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _non_leaf_tensors(v, depth + 1)


def copy_model(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, also for modules that hold cached non-leaf tensors, which
    ``deepcopy`` refuses ("only graph leaves support the deepcopy protocol"): an attention-bias
    cache filled by an eval-mode forward (LeViT-style), DynUNet's deep-supervision ``heads``.
    Those tensors are copied detached; the parameters and buffers are copied as usual."""
    try:
        return copy.deepcopy(model)
    except RuntimeError as e:
        if "deepcopy protocol" not in str(e):
            raise
    memo = {}
    for m in model.modules():
        for k, v in vars(m).items():
            if k in ("_parameters", "_buffers", "_modules"):
                continue
            for t in _non_leaf_tensors(v):
                memo[id(t)] = t.detach().clone()
    return copy.deepcopy(model, memo)


def per_sample(a: torch.Tensor, batch: int) -> Tuple[torch.Tensor, bool]:
    """``a`` as ``(batch, units)``, one row per sample, and whether it had to be regrouped.

    Found by structure, in this order:

    * leading dimension = ``batch``: the usual layout;
    * second dimension = ``batch``: sequence-first tokens ``(L, B, C)`` (PyTorch's
      ``nn.TransformerEncoderLayer`` without ``batch_first``), moved to the front;
    * leading dimension a multiple ``k·batch``: patch unfolding or window attention
      (MobileViT's ``(B·P, N, C)``, Swin's ``(B·nW, w², C)``), taken batch-major as these
      models lay it out, so each sample's ``k`` rows form its row.

    Raises:
        ProxyFailure: ``"unbatched"`` when none applies.
    """
    if a.dim() and a.shape[0] == batch:
        return a.reshape(batch, -1), False
    if a.dim() > 1 and a.shape[1] == batch:
        return a.transpose(0, 1).reshape(batch, -1), True
    if a.dim() and a.shape[0] % batch == 0:
        return a.reshape(batch, -1), True
    raise ProxyFailure("unbatched", f"an activation of shape {tuple(a.shape)} has no dimension "
                       f"holding the {batch} samples")


def no_activations(count: List[int]) -> None:
    """Raises ``ProxyFailure("empty_layers")`` when :func:`activation_calls` saw no activation."""
    if not count[0]:
        raise ProxyFailure("empty_layers", f"the network applies no activation "
                                           f"{[t.__name__ for t in ACT_TYPES]}")


@contextmanager
def hooks(modules: Sequence[nn.Module], fn: Callable, kind: str = "forward") -> Iterator[None]:
    """Registers ``fn`` as a forward (or forward-pre) hook on ``modules``; removes them on exit."""
    handles = []
    try:
        for m in modules:
            if kind == "forward":
                handles.append(m.register_forward_hook(fn))
            else:
                handles.append(m.register_forward_pre_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


def forward_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` reduced to its logits tensor (the full-resolution head of several)."""
    return as_logits(model(x), x)


def loss_grads(model: nn.Module, batch, ctx) -> Tuple[List[nn.Module], List[torch.Tensor], float]:
    """Gradients of the task loss w.r.t. every :func:`weight_layers` weight (no ``.grad`` side effect).

    Cached in ``ctx.shared`` per model object, so proxies scored together share the backward.

    Returns:
        (layers, grads, loss value)

    Raises:
        ProxyFailure: ``"nan"`` for a non-finite loss or gradient; ``"empty_layers"`` when the
            net has no Conv/Linear weight.
    """
    key = ("loss_grads", id(model))
    if key in ctx.shared:
        return ctx.shared[key]
    x, y = batch
    layers = nonempty(weight_layers(model), "Conv/Linear weight layers")
    loss = ctx.loss_fn(forward_logits(model, x), y)
    grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
    grads = [torch.zeros_like(m.weight) if g is None else g for m, g in zip(layers, grads)]
    if not all(bool(torch.isfinite(g).all()) for g in grads) or not bool(torch.isfinite(loss)):
        raise ProxyFailure("nan", "non-finite loss or gradients")
    res = (layers, grads, float(loss.detach()))
    ctx.shared[key] = res
    return res


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str) -> None:
    """Re-initialises weights in place (uses the global RNG, which the harness seeds and isolates).

    ``kaiming_fanin``: Conv/Linear weights ~ Kaiming normal (fan-in, ReLU gain), biases 0 (AZ-NAS).
    ``gaussian``: Conv/Linear weights ~ N(0, 1), biases 0 (Zen-NAS).
    Both set norm-layer affine weights to 1 and biases to 0; other parameters are kept.
    """
    for m in model.modules():
        if isinstance(m, WEIGHT_TYPES):
            if scheme == "kaiming_fanin":
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif scheme == "gaussian":
                nn.init.normal_(m.weight)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, NORM_TYPES) and getattr(m, "weight", None) is not None:
            nn.init.ones_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def _identity(mod, inp, out):
    return inp[0]


def remove_norms(model: nn.Module) -> None:
    """Makes every normalisation layer the identity, in place (SynFlow / DSS linearisation).

    A forward hook returns the layer's input as its output, so the module itself (and any
    attribute its parent reads, e.g. ``nn.TransformerEncoderLayer`` reading ``norm1.eps``) stays.
    """
    for m in model.modules():
        if isinstance(m, NORM_TYPES):
            m.register_forward_hook(_identity)


@torch.no_grad()
def abs_weights(model: nn.Module) -> None:
    """Sets every floating parameter/buffer to its absolute value in place (SynFlow's linearisation)."""
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.abs_()


def find_blocks(model: nn.Module) -> List[nn.Module]:
    """The network's blocks (see :func:`discover_blocks`)."""
    return discover_blocks(model)[0]


def discover_blocks(model: nn.Module) -> Tuple[List[nn.Module], str]:
    """The network's blocks and how they were found.

    ``"class_names"``: outermost modules whose class name ends in ``Block``/``Cell`` (NB201
    ``InferCell``/``ResNetBasicblock``, ViT ``Block``, the hybrid's ``ConvBlock``,
    ``MBConvBlock``, ``AttnBlock``, ``UpBlock``), excluding output heads (``*Out*``/``*Head*``),
    when there are at least two. Otherwise ``"containers"``: the children of the largest
    ``ModuleList``/``Sequential`` that hold parameters (activations, pooling, dropout and
    reshaping layers are not blocks).
    """
    found: List[nn.Module] = []
    inside = set()
    for name, m in model.named_modules():
        if m is model or any(name.startswith(p + ".") for p in inside):
            continue
        cls = type(m).__name__
        if _BLOCK_RE.search(cls) and not _NOT_BLOCK_RE.search(cls):
            found.append(m)
            inside.add(name)
    if len(found) >= 2:
        return found, "class_names"
    lists = [m for m in model.modules() if isinstance(m, (nn.ModuleList, nn.Sequential))]
    if not lists:
        return found, "class_names"
    biggest = max(lists, key=len)
    return [c for c in biggest.children() if next(c.parameters(), None) is not None], "containers"


def block_features(model: nn.Module, x: torch.Tensor, blocks=None, ctx=None):
    """One forward pass returning the block features and the logits.

    Features are, in execution order, the input of the first block (the stem output) and the
    output of every block call (blocks called twice give two features). Tensors keep their graph.
    With ``ctx``, the block discovery path is recorded (``ctx.discovery["blocks"]``).

    Returns:
        (features, logits)
    """
    if blocks is None:
        blocks, method = discover_blocks(model)
        if ctx is not None:
            ctx.discovery["blocks"] = method
    feats: List[torch.Tensor] = []

    def pre(mod, inp):
        if not feats and inp and isinstance(inp[0], torch.Tensor):
            feats.append(inp[0])

    def post(mod, inp, out):
        if isinstance(out, torch.Tensor):
            feats.append(out)

    with hooks(blocks[:1], pre, "pre"), hooks(blocks, post):
        logits = forward_logits(model, x)
    return feats, logits


def rows(feat: torch.Tensor) -> torch.Tensor:
    """A feature as ``(points, channels)``: ``(B,C,*S)`` → ``(B·∏S, C)``, tokens ``(B,N,C)`` → ``(B·N, C)``."""
    if feat.dim() == 3:  # tokens
        return feat.reshape(-1, feat.shape[-1])
    if feat.dim() == 2:
        return feat
    c = feat.shape[1]
    return feat.movedim(1, -1).reshape(-1, c)


def unique_rows(codes: torch.Tensor) -> int:
    """Number of distinct rows of a 0/1 matrix ``(n, d)`` (rows packed into int64 words first)."""
    n, d = codes.shape
    if n == 0:
        return 0
    words = []
    for s in range(0, d, 62):
        chunk = codes[:, s:s + 62].to(torch.int64)
        w = (chunk << torch.arange(chunk.shape[1], device=codes.device, dtype=torch.int64)).sum(1)
        words.append(w)
    packed = torch.stack(words, 1)
    if packed.shape[1] == 1:
        return int(torch.unique(packed[:, 0]).numel())
    return int(torch.unique(packed, dim=0).shape[0])
