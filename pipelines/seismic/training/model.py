"""PhaseNet-DAS U-Net (Zhu et al. 2023) in PyTorch, parametrised by width/depth/kernel.

The default configuration is the paper model (5 levels, stride 4, 7x7 kernels,
16 initial features, BatchNorm+ReLU after every bias-free backbone conv,
transposed convs with ``output_padding=3``, bilinear x4 output upsampling and a
7x7 16->3 head with bias): 10,681,027 trainable parameters.

Input layout ``[batch, 1, nt, nx]`` (already moving-normalised, see
:func:`pipelines.seismic.onnx_model.moving_normalize`); output logits
``[batch, 3, nt, nx]`` for ``[noise, P, S]``. ``nt`` and ``nx`` must be
multiples of ``stride ** depth``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ModelConfig:
    """Network hyper-parameters (the defaults are the paper model)."""

    init_features: int = 16
    depth: int = 5
    kernel: int = 7
    stride: int = 4

    @property
    def pad_multiple(self) -> int:
        """Both input axes must be multiples of this (``stride ** depth``)."""
        return self.stride**self.depth

    def to_dict(self) -> dict:
        return asdict(self)


#: Named variants: the paper model and the smaller edge model shipped by dasedge.
VARIANTS: dict[str, ModelConfig] = {
    "full": ModelConfig(),
    "edge": ModelConfig(init_features=8, depth=4, kernel=5, stride=4),
    # for tests only (seconds on CPU)
    "tiny": ModelConfig(init_features=4, depth=3, kernel=3, stride=4),
}


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _upconv(cin: int, cout: int, k: int, stride: int) -> nn.Sequential:
    # output size = (n - 1) * s - 2 * (k // 2) + k + (s - 1) = n * s for odd k
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class PhaseNetDAS(nn.Module):
    """U-Net of PhaseNet-DAS; ``forward(x) -> logits`` ``[B, 3, nt, nx]``."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = config or ModelConfig()
        self.config = cfg
        f, d, k, s = cfg.init_features, cfg.depth, cfg.kernel, cfg.stride
        if d < 2:
            raise ValueError("depth must be >= 2")
        widths = [f * 2**i for i in range(d)]  # encoder output widths
        enc = [nn.Sequential(_conv(1, widths[0], k, s), _conv(widths[0], widths[0], k))]
        for i in range(1, d):
            enc.append(nn.Sequential(_conv(widths[i - 1], widths[i], k, s), _conv(widths[i], widths[i], k)))
        self.encoders = nn.ModuleList(enc)
        self.upconv_bottom = _upconv(widths[-1], widths[-2], k, s)
        dec = []
        for j in range(d - 2, 0, -1):  # after concat the width is widths[j] * 2 = widths[j + 1]
            dec.append(nn.Sequential(_conv(widths[j + 1], widths[j], k), _upconv(widths[j], widths[j - 1], k, s)))
        self.decoders = nn.ModuleList(dec)
        self.output_conv = _conv(widths[1], widths[0], k)
        self.head = nn.Conv2d(widths[0], 3, k, padding=k // 2, bias=True)
        self.upsample = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        x = self.upconv_bottom(skips[-1])
        x = torch.cat([x, skips[-2]], dim=1)
        for i, dec in enumerate(self.decoders):
            x = dec(x)
            x = torch.cat([x, skips[-3 - i]], dim=1)
        x = self.output_conv(x)
        x = F.interpolate(x, scale_factor=(self.upsample, self.upsample), mode="bilinear", align_corners=False)
        return self.head(x)


class SoftmaxWrapper(nn.Module):
    """``x -> softmax(logits)`` over the phase axis (the exported graph)."""

    def __init__(self, net: PhaseNetDAS) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def build(variant: str | ModelConfig = "edge") -> PhaseNetDAS:
    """Build a network from a variant name (``full``, ``edge``, ``tiny``) or a config."""
    cfg = variant if isinstance(variant, ModelConfig) else VARIANTS[variant]
    return PhaseNetDAS(cfg)


def n_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over labelled pixels of ``sum_c -target_c * log_softmax(logits)_c``.

    Parameters
    ----------
    logits, target
        ``[B, 3, nt, nx]``.
    mask
        ``[B, nx]`` 1 for channels that carry labels, 0 for ignored channels.
    """
    logp = F.log_softmax(logits, dim=1)
    per_px = -(target * logp).sum(dim=1)  # [B, nt, nx]
    m = mask[:, None, :].to(per_px.dtype)
    denom = (m.sum() * per_px.shape[1]).clamp_min(1.0)
    return (per_px * m).sum() / denom
