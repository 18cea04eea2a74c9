"""Which layers of an arbitrary network are attention and MLP (Transformer) layers.

Found by **structure** first: one batch-1 forward (eval mode, the caller's modes restored)
under a :class:`torch.overrides.TorchFunctionMode` that sees every torch call, with a hook on
every module keeping the stack of modules being run:

* an **attention module** is the innermost module with parameters in which a softmax follows a
  product of two activations (``matmul``/``bmm``/``einsum``/``@`` with no parameter operand),
  or which calls ``scaled_dot_product_attention`` / ``multi_head_attention_forward``
  (``nn.MultiheadAttention``, whose ``out_proj`` is used functionally). Its Conv/Linear layers
  are the attention projections, all its parameters count as attention parameters.
* an **MLP** is a pair of token-wise Linear layers (inputs ``(B, N, C)`` or more dims) where
  the output of the first (which widens the features or keeps their width) reaches the second
  (which maps them back to the first one's input width) only through same-shape elementwise
  calls, at least one of them a non-linearity (GELU, ReLU, ...).
  This covers ``fc1``/``fc2`` MLPs, MONAI's ``MLPBlock`` and ``nn.TransformerEncoderLayer``'s
  ``linear1``/``linear2``, and not squeeze-excitation (which narrows first).

When that forward fails (a network that rejects the traced call), the **names** fallback is
used: modules with ``qkv`` + ``proj``/``out_proj`` Linear attributes or of type
``nn.MultiheadAttention``; MLP modules with ``fc1``/``fc2`` or a class name containing
``mlp``/``feedforward``. :attr:`Layers.method` records which path was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._utils import WEIGHT_TYPES, forward_logits

_ACT_NAMES = ("relu", "gelu", "silu", "elu", "sigmoid", "tanh", "hardswish", "mish", "softplus",
              "celu", "selu", "leaky_relu", "hardtanh", "prelu", "relu6", "hardsigmoid")
_MATMUL_NAMES = ("matmul", "bmm", "einsum", "__matmul__", "__rmatmul__", "baddbmm")
_FUSED_ATTENTION = ("scaled_dot_product_attention", "multi_head_attention_forward")


@dataclass
class Layers:
    """Discovered layers, by qualified module name (so they resolve on a copy of the model).

    Attributes:
        attention: names of the attention modules (every parameter counts as attention).
        attention_linears: their Conv/Linear layers (``nn.MultiheadAttention``: ``out_proj``),
            in module order.
        mlp_linears: Linear layers of the MLPs (not inside an attention module), module order.
        method: ``"structure"`` or ``"names"`` (see the module docstring).
        note: why the names fallback was used (empty otherwise).
    """

    attention: List[str]
    attention_linears: List[str]
    mlp_linears: List[str]
    method: str
    note: str = ""

    def modules(self, model: nn.Module, which: str) -> List[nn.Module]:
        """The modules listed in ``which`` (a field name), looked up in ``model`` by name."""
        named = dict(model.named_modules())
        return [named[n] for n in getattr(self, which)]

    def attention_share(self, model: nn.Module) -> float:
        """Share of the trainable parameters in attention modules and MLP Linear layers."""
        params: Dict[int, nn.Parameter] = {}
        for m in self.modules(model, "attention") + self.modules(model, "mlp_linears"):
            params.update({id(p): p for p in m.parameters() if p.requires_grad})
        total = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return float(sum(p.numel() for p in params.values())) / total if total else 0.0


def _tensors(obj, out):
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, out)
    return out


def _fname(func) -> str:
    return getattr(func, "__name__", str(func)).lower()


class _Tracer(TorchFunctionMode):
    """Records attention calls per innermost parameterised module and the elementwise paths
    between Linear layers."""

    def __init__(self, stack: List[nn.Module]):
        super().__init__()
        self.stack = stack
        self.matmul_in: Set[int] = set()        # id(module) with an activation-activation product
        self.attention: Dict[int, nn.Module] = {}
        self.src: Dict[int, Tuple[nn.Module, bool]] = {}  # id(tensor) -> (origin Linear, saw act)
        self.alive: List[torch.Tensor] = []     # keeps traced tensors alive (stable ids)

    def owner(self) -> Optional[nn.Module]:
        for m in reversed(self.stack):
            if next(m.parameters(recurse=True), None) is not None:
                return m
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _fname(func)
        ins = _tensors(list(args) + list(kwargs.values()), [])
        own = self.owner()
        if own is not None and len(self.stack) > 1:
            if any(k in name for k in _FUSED_ATTENTION):
                self.attention[id(own)] = own
            elif name in _MATMUL_NAMES and len(ins) >= 2 and not any(isinstance(t, nn.Parameter) for t in ins):
                self.matmul_in.add(id(own))
            elif "softmax" in name and id(own) in self.matmul_in:
                self.attention[id(own)] = own
        if isinstance(out, torch.Tensor) and ins and id(ins[0]) in self.src \
                and out.shape == ins[0].shape and name not in ("linear", "conv1d", "conv2d", "conv3d"):
            origin, act = self.src[id(ins[0])]
            self.src[id(out)] = (origin, act or any(a in name for a in _ACT_NAMES))
            self.alive.append(out)
        return out


def _trace(model: nn.Module, x: torch.Tensor) -> Tuple[List[nn.Module], List[Tuple[nn.Module, nn.Module]]]:
    stack: List[nn.Module] = []
    tracer = _Tracer(stack)
    pairs: List[Tuple[nn.Module, nn.Module]] = []

    def pre(mod, inp):
        stack.append(mod)

    def post(mod, inp, out):
        stack.pop()
        if isinstance(mod, nn.Linear) and isinstance(out, torch.Tensor):
            if inp and isinstance(inp[0], torch.Tensor) and id(inp[0]) in tracer.src:
                origin, act = tracer.src[id(inp[0])]
                if act and out.dim() >= 3 and origin.out_features >= origin.in_features \
                        and mod.out_features == origin.in_features:
                    pairs.append((origin, mod))
            tracer.src[id(out)] = (mod, False)
            tracer.alive.append(out)

    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
        model.eval()
        with tracer:
            forward_logits(model, x[:1])
    finally:
        for h in handles:
            h.remove()
        for m, t in modes:
            m.training = t
    return list(tracer.attention.values()), pairs


def _by_names(model: nn.Module) -> Tuple[List[nn.Module], List[nn.Module]]:
    attn, mlps = [], []
    for m in model.modules():
        lin = lambda a: isinstance(getattr(m, a, None), nn.Linear)  # noqa: E731
        if isinstance(m, nn.MultiheadAttention) or (lin("qkv") and (lin("proj") or lin("out_proj"))):
            attn.append(m)
        cls = type(m).__name__.lower()
        if (lin("fc1") and lin("fc2")) or "mlp" in cls or "feedforward" in cls:
            mlps.append(m)
    return attn, [l for mm in mlps for l in mm.modules() if isinstance(l, nn.Linear)]


def discover(model: nn.Module, x: torch.Tensor) -> Layers:
    """Attention modules, their projections and MLP Linear layers of ``model``.

    Args:
        model: any network; its train/eval modes are restored, nothing else is changed.
        x: an input batch ``(B, C, *S)``; only its first sample is forwarded.

    Returns:
        :class:`Layers` with ``method`` ``"structure"`` or (when the traced forward raised)
        ``"names"``.
    """
    names = {m: n for n, m in model.named_modules()}
    order = {m: i for i, m in enumerate(model.modules())}
    note = ""
    try:
        with torch.enable_grad():  # keeps nn.MultiheadAttention/TransformerEncoder off their fused paths
            attn, pairs = _trace(model, x)
        mlp = {l for p in pairs for l in p}
        method = "structure"
    except Exception as e:  # noqa: BLE001 - a network the tracer cannot run: names fallback
        attn, mlp_list = _by_names(model)
        mlp, method, note = set(mlp_list), "names", f"{type(e).__name__}: {e}"
    attn = sorted(set(attn), key=order.__getitem__)
    attn = [a for a in attn if not any(b is not a and a in set(b.modules()) for b in attn)]
    inside: Set[nn.Module] = {m for a in attn for m in a.modules()}
    alin: List[nn.Module] = []
    for a in attn:
        if isinstance(a, nn.MultiheadAttention):
            alin.append(a.out_proj)
        else:
            alin += [m for m in a.modules() if isinstance(m, WEIGHT_TYPES)]
    mlp_l = sorted((l for l in mlp if l not in inside), key=order.__getitem__)
    return Layers([names[a] for a in attn], [names[l] for l in alin], [names[l] for l in mlp_l],
                  method, note)
