"""``recipe: tiny`` — a few-second CPU recipe: a tiny residual U-Net learns to undo a random
Gaussian blur on bundled photos. It exists to exercise (and demonstrate) the engine:
phases, on-the-fly data, augmentation, checkpoints, resume, DDP, logging, export.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from blurmap.train.data import Augment
from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe


def gaussian_blur(image: torch.Tensor, sigma: float, radius: int | None = None) -> torch.Tensor:
    """Blur ``(C, H, W)`` or ``(B, C, H, W)`` by an isotropic Gaussian (reflect padding).

    Args:
        image: tensor in any range.
        sigma: standard deviation in px (> 0).
        radius: kernel half-size in px; default ``ceil(3 * sigma)``.
    """
    radius = int(np.ceil(3 * sigma)) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    batched = image.dim() == 4
    img = image if batched else image[None]
    c = img.shape[1]
    img = F.pad(img, (radius, radius, radius, radius), mode="reflect")
    img = F.conv2d(img, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    img = F.conv2d(img, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return img if batched else img[0]


def _bundled_photos(size: int) -> list[torch.Tensor]:
    from skimage import data

    photos = []
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        arr = torch.from_numpy(getattr(data, name)().astype(np.float32) / 255.0).permute(2, 0, 1)
        side = min(arr.shape[-2:])
        arr = arr[:, :side, :side]  # square, then downscale with antialiasing
        photos.append(F.interpolate(arr[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1))
    return photos


class GaussianBlurPairs(torch.utils.data.Dataset):
    """On-the-fly ``{"blur", "sharp"}`` pairs: a random photo blurred with a random sigma.

    Randomness comes from the global torch RNG, which the engine seeds per sample.

    Args:
        photos: list of ``(3, S, S)`` tensors in [0, 1].
        length: virtual epoch size.
        sigma_range: (min, max) blur sigma in px; a fixed value if equal.
        noise: std of added Gaussian noise.
    """

    def __init__(self, photos, length: int, sigma_range=(0.5, 2.0), noise: float = 0.01):
        self.photos = photos
        self.length = length
        self.sigma_range = sigma_range
        self.noise = noise

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        sharp = self.photos[int(torch.randint(len(self.photos), (1,)))]
        lo, hi = self.sigma_range
        sigma = lo + (hi - lo) * float(torch.rand(()))
        blur = gaussian_blur(sharp, sigma) + self.noise * torch.randn_like(sharp)
        return {"blur": blur.clamp(0, 1), "sharp": sharp}


@dataclass
class TinyConfig(RecipeConfig):
    #: U-Net width
    channels: int = 8
    lr: float = 2e-3
    #: epochs of the single "main" phase
    epochs: float = 3.0
    #: samples per (virtual) epoch of the on-the-fly training set
    epoch_size: int = 64
    #: side of the downscaled bundled photos in px
    image_size: int = 64
    sigma_min: float = 0.5
    sigma_max: float = 2.0
    #: length of an optional first phase "warmup" in optimizer steps (same loss; it shows a
    #: two-phase schedule and lets tests cross a phase boundary); 0 = none
    warmup_iters: int = 0


@register_recipe("tiny")
class TinyRecipe(Recipe):
    Config = TinyConfig

    def build_models(self):
        return {"net": ModelSpec("tiny_unet", {"channels": self.cfg.channels})}

    def build_optimizers(self, models):
        return {"net": torch.optim.Adam(models["net"].parameters(), lr=self.cfg.lr)}

    def build_schedulers(self, optimizers, total_steps):
        return {"net": torch.optim.lr_scheduler.CosineAnnealingLR(optimizers["net"], T_max=max(1, total_steps), eta_min=self.cfg.lr * 0.1)}

    def build_datasets(self):
        photos = _bundled_photos(self.cfg.image_size)[:3]
        return {"train": GaussianBlurPairs(photos, self.cfg.epoch_size, (self.cfg.sigma_min, self.cfg.sigma_max))}

    def train_transform(self, name):
        return Augment(crop=min(self.cfg.train.crop_size, self.cfg.image_size), rot_flip=True)

    def build_val_datasets(self):
        # the 4th photo is never trained on; fixed sigma, no noise
        photo = _bundled_photos(self.cfg.image_size)[3:]
        return {"val": _FixedPairs(photo, sigma=0.5 * (self.cfg.sigma_min + self.cfg.sigma_max))}

    def phases(self):
        main = Phase("main", epochs=self.cfg.epochs, losses=("l1",))
        if self.cfg.warmup_iters > 0:
            return [Phase("warmup", iters=self.cfg.warmup_iters, losses=("l1",)), main]
        return [main]

    def step(self, batch, ctx):
        out = ctx.models["net"](batch["blur"])
        return {"loss": F.l1_loss(out.float(), batch["sharp"].float())}

    def validate(self, batch, ctx):
        out = ctx.models["net"](batch["blur"]).float().clamp(0, 1)
        return {"input": batch["blur"], "output": out, "target": batch["sharp"],
                "metrics": {"l1": float(F.l1_loss(out, batch["sharp"]))}}


class _FixedPairs(torch.utils.data.Dataset):
    def __init__(self, photos, sigma: float):
        self.items = [{"blur": gaussian_blur(p, sigma).clamp(0, 1), "sharp": p} for p in photos]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]
