"""Networks nascore did not write, for the proxy zoo tests (tiny 2-D configs, small inputs).

Each entry: ``name -> (build() -> nn.Module, batch, attention_classes)`` where
``attention_classes`` are the module types whose parameters a direct count puts in attention
or MLP layers (an independent check of :func:`nascore.proxies.layers.discover`).
"""

import torch
from torch import nn


class TransformerClassifier(nn.Module):
    """Patch embedding -> nn.TransformerEncoder (2 layers) -> mean token -> Linear."""

    def __init__(self, dim=16, classes=5):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, 4, stride=4)
        layer = nn.TransformerEncoderLayer(dim, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.encoder(t).mean(1))


class MHANet(nn.Module):
    """Conv stem -> nn.MultiheadAttention over pixels -> token MLP -> 1x1 conv seg head."""

    def __init__(self, dim=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU())
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        self.out = nn.Conv2d(dim, 2, 1)

    def forward(self, x):
        h = self.stem(x)
        b, c, hh, ww = h.shape
        t = h.flatten(2).transpose(1, 2)
        t = t + self.attn(t, t, t, need_weights=False)[0]
        t = t + self.fc2(self.act(self.fc1(t)))
        return self.out(t.transpose(1, 2).reshape(b, c, hh, ww))


def conv_act_net(act, dropout=0.0):
    """Conv -> act -> Conv -> act -> pool -> (dropout) -> Linear, activations right after convs."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), act(), nn.Conv2d(8, 8, 3, padding=1), act(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(8, 5))


class SE(nn.Module):
    """Squeeze-excitation (Hu et al.): GAP -> Linear(C, C/4) -> ReLU -> Linear -> sigmoid gate."""

    def __init__(self, c):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, c // 4), nn.ReLU(inplace=True), nn.Linear(c // 4, c), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class MobileViTBlock(nn.Module):
    """MobileViT-style (Mehta & Rastegari, ICLR 2022): local conv, unfold into p×p patches as
    ``(B·p², N, C)`` tokens (the leading dimension is a multiple of the batch), a Transformer
    layer, fold back, fuse with the input."""

    def __init__(self, c=8, p=2):
        super().__init__()
        self.p = p
        self.local = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.SiLU())
        self.tf = nn.TransformerEncoderLayer(c, 2, 2 * c, dropout=0.0, batch_first=True)
        self.fuse = nn.Conv2d(2 * c, c, 3, padding=1)

    def forward(self, x):
        y = self.local(x)
        b, c, h, w = y.shape
        p = self.p
        t = y.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, -1, c)
        t = self.tf(t)
        y = t.reshape(b, p, p, h // p, w // p, c).permute(0, 5, 3, 1, 4, 2).reshape(b, c, h, w)
        return self.fuse(torch.cat([x, y], 1))


def mobilevit_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), MobileViTBlock(8),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


class BiasCacheAttnBlock(nn.Module):
    """LeViT-style attention (Graham et al., ICCV 2021) with a learned attention bias that an
    eval-mode forward caches per device: the cache holds a non-leaf tensor, which
    ``copy.deepcopy`` refuses."""

    def __init__(self, dim=8, tokens=16, heads=2):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(heads, tokens))
        self.register_buffer("bias_idxs", torch.arange(tokens)[None, :].expand(tokens, tokens).clone(),
                             persistent=False)
        self.bias_cache = {}

    def bias(self, device):
        if self.training:
            return self.attention_biases[:, self.bias_idxs]
        key = str(device)
        if key not in self.bias_cache:
            self.bias_cache[key] = self.attention_biases[:, self.bias_idxs]  # non-leaf
        return self.bias_cache[key]

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5 + self.bias(x.device)
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class BiasCacheNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 4, stride=4), nn.ReLU())
        self.attn = nn.ModuleList([BiasCacheAttnBlock(8, 16), BiasCacheAttnBlock(8, 16)])
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        for a in self.attn:
            t = t + torch.relu(a(t))
        return self.head(t.mean(1))


def bias_cache_net():
    """Built, then run once in eval mode (outside ``no_grad``, so the cached bias is a non-leaf
    tensor), as a user who evaluated it first would hand it over."""
    net = BiasCacheNet()
    net.eval()(torch.zeros(1, 1, 16, 16))
    return net.train()


def se_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), SE(8),
                         nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         SE(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


def _monai():
    from monai.networks.blocks.mlp import MLPBlock
    from monai.networks.blocks.selfattention import SABlock
    from monai.networks.nets import UNETR, DynUNet, SegResNet, SegResNetDS, SwinUNETR, UNet
    from monai.networks.nets.swin_unetr import WindowAttention

    return {
        "monai_unet": (lambda: UNet(2, 1, 2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1), ()),
        "monai_unetr": (lambda: UNETR(1, 2, img_size=(32, 32), feature_size=4, hidden_size=32,
                                      mlp_dim=64, num_heads=2, spatial_dims=2), (SABlock, MLPBlock)),
        "monai_swinunetr": (lambda: SwinUNETR(in_channels=1, out_channels=2, feature_size=12,
                                              depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2),
                                              spatial_dims=2), (WindowAttention, MLPBlock)),
        "monai_segresnet": (lambda: SegResNet(2, init_filters=8, in_channels=1, out_channels=2,
                                              blocks_down=(1, 1), blocks_up=(1,)), ()),
        # several outputs: deep-supervision heads stacked on dim 1 (and cached non-leaf heads)
        "monai_dynunet_ds": (lambda: DynUNet(2, 1, 2, kernel_size=[3, 3, 3, 3],
                                             strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2],
                                             filters=[4, 8, 16, 16], deep_supervision=True,
                                             deep_supr_num=2), ()),
        # several outputs: a list of heads, the full-resolution one first
        "monai_segresnetds": (lambda: SegResNetDS(2, init_filters=4, in_channels=1, out_channels=2,
                                                  blocks_down=(1, 1, 1), dsdepth=2), ()),
    }


def zoo():
    """``name -> (build, batch, attention_classes)``; builds are seeded by the caller."""
    g = torch.Generator().manual_seed(0)
    seg = (torch.randn(4, 1, 32, 32, generator=g), torch.randint(0, 2, (4, 32, 32), generator=g))
    cls = (torch.randn(4, 1, 16, 16, generator=g), torch.randint(0, 5, (4,), generator=g))
    seg64 = (torch.randn(4, 1, 64, 64, generator=g), torch.randint(0, 2, (4, 64, 64), generator=g))
    out = {k: (b, seg64 if "swin" in k else seg, a) for k, (b, a) in _monai().items()}
    out.update({
        "transformer_encoder": (TransformerClassifier, cls, (nn.MultiheadAttention, "ffn")),
        "mha_net": (MHANet, seg, (nn.MultiheadAttention, "fc")),
        "inplace_silu": (lambda: conv_act_net(lambda: nn.SiLU(inplace=True)), cls, ()),
        "inplace_elu": (lambda: conv_act_net(lambda: nn.ELU(inplace=True)), cls, ()),
        "dropout": (lambda: conv_act_net(nn.ReLU, dropout=0.5), cls, ()),
        "squeeze_excitation": (se_net, cls, ()),
        # the leading dimension of the Transformer's activations is batch x patches
        "mobilevit_patches": (mobilevit_net, cls, (nn.MultiheadAttention, "ffn")),
        # a cached non-leaf tensor the harness's copy must get past
        "bias_cache_attention": (bias_cache_net, cls, (BiasCacheAttnBlock,)),
    })
    return out


def expected_attention_share(model, classes):
    """Direct count: parameters of modules of ``classes`` (``"ffn"``: TransformerEncoderLayer's
    linear1/linear2; ``"fc"``: modules named fc1/fc2) over all trainable parameters."""
    ps = {}
    for name, m in model.named_modules():
        hit = any(isinstance(c, type) and isinstance(m, c) for c in classes)
        if "ffn" in classes and isinstance(m, nn.TransformerEncoderLayer):
            for l in (m.linear1, m.linear2):
                ps.update({id(p): p for p in l.parameters()})
        if "fc" in classes and name.split(".")[-1] in ("fc1", "fc2"):
            hit = True
        if hit:
            ps.update({id(p): p for p in m.parameters()})
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(p.numel() for p in ps.values()) / total
