"""A two-level residual U-Net with a few thousand parameters, for the ``tiny`` training
recipe, engine tests and CPU demos of the training loop. Not a method from the papers."""

from __future__ import annotations

import torch
from torch import nn

from blurmap.models import register_model
from blurmap.models.padding import pad_to_multiple


@register_model("tiny_unet")
class TinyUNet(nn.Module):
    """``blurred + unet(blurred)`` with one downsampling level.

    Args:
        channels: feature width at full resolution (the bottleneck has twice as many).

    Shape:
        ``forward``: ``(B, 3, H, W) -> (B, 3, H, W)`` for any H, W (reflect-padded to a
        multiple of 2 internally, cropped back).
    """

    size_multiple = 2
    receptive_field = 14

    def __init__(self, channels: int = 8):
        super().__init__()
        c = int(channels)
        self.init_kwargs = {"channels": c}
        self.enc = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU(inplace=True))
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU(inplace=True))
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, blurred: torch.Tensor) -> torch.Tensor:
        h, w = blurred.shape[-2:]
        x, _ = pad_to_multiple(blurred, self.size_multiple)
        e = self.enc(x)
        d = self.up(self.down(e))
        out = x + self.dec(torch.cat([e, d], dim=1))
        return out[..., :h, :w]

    def predict(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"image": forward(blurred)}`` (this model has no blur map)."""
        return {"image": self.forward(blurred)}
