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


def se_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), SE(8),
                         nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         SE(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


def _monai():
    from monai.networks.blocks.mlp import MLPBlock
    from monai.networks.blocks.selfattention import SABlock
    from monai.networks.nets import UNETR, SegResNet, SwinUNETR, UNet
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
