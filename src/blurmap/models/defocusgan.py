"""DefocusGAN generator: defocus-map guided multi-scale deblurring network.

Paper: "Learnable Blur Kernel for Single-Image Defocus Deblurring in the Wild", section
"DefocusGAN Generator", eq. (6), Figure 2.

Structure (how the vague points of the paper are settled here):

* **Defocus-map guide block (DGB)**: ``N = 4`` branches that all see the same input
  features. Each branch is U-Net-like with **8 conv units**; a unit is 1 plain 3x3 conv
  (+LeakyReLU), 1 RCAB, 2 RCABs or 3 RCABs for the branches of small -> large CoC
  (``branch_units=(0, 1, 2, 3)``, 0 meaning the plain conv). A U-Net with ``L`` levels has
  ``L-1`` encoder units, ``8 - 2(L-1)`` bottleneck units and ``L-1`` decoder units; levels
  are joined by a stride-2 2x2 conv (down) and a 1x1 conv + bilinear x2 (up) with an
  additive skip. The branch outputs are multiplied by the defocus masks and summed, plus a
  residual connection to the DGB input.
* **Defocus masks**: one-hot bins of ``|CoC|`` (px, full resolution) with the edges
  ``coc_bins`` (default ``[0, 1.9), [1.9, 4.2), [4.2, 6.2), [6.2, inf)``; the paper gives
  no values). At a coarser scale the masks are average-pooled, so they stay a partition of
  unity.
* **Annealing** (eq. 6 "K(c)" relaxed): with guidance weight ``w`` the mask applied to
  branch ``i`` is ``w * M_i + (1 - w) / N``. At ``w = 1`` this is the paper's hard mask; at
  ``w = 0`` the branches are simply summed (times the constant ``1/N``, which keeps the
  feature scale continuous during annealing and is absorbed by the next conv) and the
  output does not depend on the map, so inference needs only the blurred image. The weight
  is set from outside by the training recipe (:func:`guidance_weight_schedule`).
* **Multi-scale cascade**: DGB at full scale -> strided conv -> lighter DGB at 1/4 -> strided
  conv -> lighter DGB at 1/8; the coarse results are brought back by 1x1 conv + bilinear
  upsampling and added to the finer DGB output; a 2-conv tail predicts the residual that
  is added to the blurred input. "Lighter" = fewer U-Net levels (the receptive field is
  already large there) and fewer channels.
* **Full scale without full-resolution tensors** (speed/memory choice): the stem packs the
  image 2x2 into channels (pixel-unshuffle, lossless) so the full-scale DGB runs on a
  half-size grid holding all full-resolution samples; the tail unpacks with pixel-shuffle.
  ``space_to_depth=1`` gives the literal full-resolution variant (4x the compute of the
  full-scale DGB). With packing, a 1120x1680 image runs in a few seconds on 2 CPU cores
  instead of the official implementation's 45 s / 9.4 GB (``blurmap bench speed``, ``benchmarks/infer_speed.py``).

Paper width (default arguments): 4.59 M parameters in the paper; see
:data:`PAPER_DGB_WIDTHS` and ``docs/defocusgan.md`` for this implementation's count. The
default cascade needs the input padded to a multiple of 16 (1120x1680 needs no padding).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from blurmap.models import (
    count_parameters,  # noqa: F401  (re-exported: all parameters)
    register_model,
)
from blurmap.models.blocks import RCAB, conv3x3
from blurmap.models.padding import pad_to_multiple
from blurmap.physics.coc_bins import DEFAULT_COC_BINS, defocus_masks  # noqa: F401 (re-exported: the model's public bins)

#: Channel widths per U-Net level of the DGB at each scale (full, 1/4, 1/8) at paper size.
PAPER_DGB_WIDTHS = ((16, 32, 64, 80), (16, 32, 48), (8, 16))

#: Resolution of the cascade's scales relative to the input (paper: full, 1/4, 1/8).
CASCADE_SCALES = (1, 4, 8)


def guidance_weight_schedule(step: int, total: int = 20_000, kind: str = "gauss") -> float:
    """Annealed weight of the defocus-mask guidance at a training step.

    Args:
        step: training iteration (0-based).
        total: iterations after which the weight is exactly 0 (paper: 2e4).
        kind: ``"gauss"`` = ``exp(-(2 t / T)^2)`` (the paper names "simulated annealing"
            without a formula; this decays smoothly from 1 and is 0.018 just before
            ``T``), ``"cosine"`` = ``(1 + cos(pi t / T)) / 2``, ``"linear"`` = ``1 - t/T``,
            ``"none"`` = always 1 (no annealing, for ablations).

    Returns:
        weight in ``[0, 1]``; 0 for ``step >= total`` (except ``kind="none"``).
    """
    if kind == "none":
        return 1.0
    if total <= 0 or step >= total:
        return 0.0
    t = max(0, step) / total
    if kind == "gauss":
        return math.exp(-((2.0 * t) ** 2))
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if kind == "linear":
        return 1.0 - t
    raise ValueError(f"unknown annealing kind {kind!r}; use gauss, cosine, linear or none")


def _rcab_reduction(channels: int) -> int:
    # RCAN uses reduction 16; thin layers keep at least 4 hidden channels in the gate.
    return max(1, min(16, channels // 4))


def _act() -> nn.Module:
    # LeakyReLU, not ReLU, for the non-residual layers (plain branch, tail): a thin ReLU
    # layer can die entirely and freeze the whole residual at zero (seen at CPU widths).
    return nn.LeakyReLU(0.2, inplace=True)


def _unit(channels: int, units: int) -> nn.Module:
    """One conv unit of a branch: plain conv + LeakyReLU (units=0) or ``units`` RCABs."""
    if units == 0:
        return nn.Sequential(conv3x3(channels, channels), _act())
    return nn.Sequential(*[RCAB(channels, _rcab_reduction(channels)) for _ in range(units)])


class _Up(nn.Module):
    """1x1 conv at the coarse level, then bilinear upsampling (cheaper than the reverse)."""

    def __init__(self, in_ch: int, out_ch: int, factor: int):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1)
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.proj(x), scale_factor=self.factor, mode="bilinear", align_corners=False)


class BranchUNet(nn.Module):
    """U-Net-like DGB branch with ``num_units`` conv units.

    Args:
        widths: channels per level (level 0 = the DGB's resolution); each level halves H, W.
        units: conv unit type, 0 = plain 3x3 conv + LeakyReLU, k >= 1 = k RCABs.
        num_units: total conv units (paper: 8), split ``L-1`` encoder / rest bottleneck /
            ``L-1`` decoder.

    Shape: ``(B, widths[0], H, W) -> (B, widths[0], H, W)``, H and W divisible by
    ``2 ** (len(widths) - 1)``.
    """

    def __init__(self, widths: Sequence[int], units: int, num_units: int = 8):
        super().__init__()
        widths = [int(w) for w in widths]
        levels = len(widths)
        n_bottleneck = num_units - 2 * (levels - 1)
        if n_bottleneck < 1:
            raise ValueError(f"{num_units} conv units are too few for a {levels}-level U-Net")
        self.encoders = nn.ModuleList(_unit(widths[i], units) for i in range(levels - 1))
        self.downs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 2, stride=2) for i in range(levels - 1)
        )
        self.bottleneck = nn.Sequential(*[_unit(widths[-1], units) for _ in range(n_bottleneck)])
        self.ups = nn.ModuleList(_Up(widths[i + 1], widths[i], 2) for i in range(levels - 1))
        self.decoders = nn.ModuleList(_unit(widths[i], units) for i in range(levels - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for i in reversed(range(len(skips))):
            x = self.decoders[i](self.ups[i](x) + skips[i])
        return x


class DefocusGuideBlock(nn.Module):
    """DGB: ``x + sum_i m_i * branch_i(x)`` (paper eq. 6 with soft, annealed masks).

    Args:
        widths: channels per U-Net level of every branch.
        branch_units: conv unit of each branch (see :class:`BranchUNet`).
        num_units: conv units per branch (paper: 8).

    Shape: ``x (B, widths[0], H, W)``, ``masks (B, N, H, W)`` or None (= ``1/N`` each)
    -> ``(B, widths[0], H, W)``.
    """

    def __init__(self, widths: Sequence[int], branch_units: Sequence[int] = (0, 1, 2, 3), num_units: int = 8):
        super().__init__()
        self.branches = nn.ModuleList(BranchUNet(widths, u, num_units) for u in branch_units)

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        n = len(self.branches)
        out = x
        for i, branch in enumerate(self.branches):
            f = branch(x)
            # Branches run one after another and are accumulated at once, so only one
            # branch's activations are alive at a time (peak memory at 1120x1680).
            # fused multiply-adds: one pass over the features instead of two
            out = torch.addcmul(out, f, masks[:, i : i + 1]) if masks is not None else torch.add(out, f, alpha=1.0 / n)
        return out


@register_model("defocusgan")
class DefocusGANGenerator(nn.Module):
    """DefocusGAN generator (paper Fig. 2): cascade of DGBs at full, 1/4 and 1/8 scale.

    Args:
        dgb_widths: per scale, the channel widths of the DGB's U-Net levels; its length is the
            number of scales (1 = single scale, 3 = paper). Default = paper size.
        branch_units: conv unit per DGB branch; ``(0, 1, 2, 3)`` = plain conv, 1, 2, 3 RCABs.
            One branch (e.g. ``(0,)``) gives the unguided single-branch ablation baselines.
        num_units: conv units per branch (paper: 8).
        coc_bins: inner |CoC| bin edges in px; ``len(coc_bins) + 1`` must equal the number of
            branches (ignored for a single branch).
        space_to_depth: 2x2 packing of the full-scale grid (2, default) or none (1).
        guidance_weight: initial mask weight ``w`` (0 = unguided; the recipe anneals it).
        in_channels: image channels.

    Shape: ``forward(blurred (B,C,H,W), defocus_map (B,1,H,W) | None) -> (B,C,H,W)`` for any
    H, W (reflect-padded to ``size_multiple`` inside, cropped back). Units: sRGB in [0, 1];
    the map is the signed CoC radius in px at the image's resolution.
    """

    # Tiling defaults (px) for blurmap.infer. The RCAB channel attention pools over each
    # tile, so larger tiles come closer to the whole-image output: on a 1536x2304 photo the
    # starter's tiled output is 73 dB PSNR from the untiled one at 1536/256 against 61 dB at
    # the former 768/256, and computes each pixel 1.3x instead of 2.3x (docs/inference.md).
    default_tile = 1536
    default_overlap = 256

    def __init__(
        self,
        dgb_widths: Sequence[Sequence[int]] = PAPER_DGB_WIDTHS,
        branch_units: Sequence[int] = (0, 1, 2, 3),
        num_units: int = 8,
        coc_bins: Sequence[float] = DEFAULT_COC_BINS,
        space_to_depth: int = 2,
        guidance_weight: float = 0.0,
        in_channels: int = 3,
    ):
        super().__init__()
        dgb_widths = [[int(c) for c in w] for w in dgb_widths]
        if not 1 <= len(dgb_widths) <= len(CASCADE_SCALES):
            raise ValueError(f"dgb_widths must list 1 to {len(CASCADE_SCALES)} scales")
        if len(branch_units) > 1 and len(coc_bins) + 1 != len(branch_units):
            raise ValueError(f"{len(branch_units)} branches need {len(branch_units) - 1} CoC bin edges")
        if space_to_depth not in (1, 2):
            raise ValueError("space_to_depth must be 1 or 2")
        self.dgb_widths = dgb_widths
        self.branch_units = [int(u) for u in branch_units]
        self.coc_bins = [float(b) for b in coc_bins]
        self.guidance_weight = float(guidance_weight)
        self.space_to_depth = int(space_to_depth)

        # Grid of each DGB relative to the input: the full scale is the packed grid.
        self.grid_factors = [self.space_to_depth] + list(CASCADE_SCALES[1 : len(dgb_widths)])
        multiples = [g * 2 ** (len(w) - 1) for g, w in zip(self.grid_factors, dgb_widths)]
        self.size_multiple = int(math.lcm(*multiples))

        p = self.space_to_depth
        w0 = dgb_widths[0][0]
        self.stem = conv3x3(in_channels * p * p, w0)
        self.dgbs = nn.ModuleList(DefocusGuideBlock(w, self.branch_units, num_units) for w in dgb_widths)
        steps = [self.grid_factors[i + 1] // self.grid_factors[i] for i in range(len(dgb_widths) - 1)]
        self.downs = nn.ModuleList(
            nn.Conv2d(dgb_widths[i][0], dgb_widths[i + 1][0], f, stride=f) for i, f in enumerate(steps)
        )
        self.ups = nn.ModuleList(_Up(dgb_widths[i + 1][0], dgb_widths[i][0], f) for i, f in enumerate(steps))
        self.tail = nn.Sequential(conv3x3(w0, w0), _act(), conv3x3(w0, in_channels * p * p))
        # Zero-initialised last conv: the untrained network is the identity (output = blurred
        # input), so training starts from the input's quality instead of input + noise.
        nn.init.zeros_(self.tail[-1].weight)
        nn.init.zeros_(self.tail[-1].bias)
        self.receptive_field = self._estimate_receptive_field(num_units)

    # ------------------------------------------------------------------ helpers
    def set_guidance_weight(self, weight: float) -> None:
        """Set the annealed mask weight ``w`` in ``[0, 1]`` (called by the training recipe)."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"guidance weight must be in [0, 1], got {weight}")
        self.guidance_weight = float(weight)

    def _estimate_receptive_field(self, num_units: int) -> int:
        """Approximate receptive field (px) of the spatial convs along the deepest branch.

        The channel attention of RCAB pools globally, so strictly every output pixel sees
        the whole image; this counts only the 3x3 convolutions (what a tiling overlap needs).
        """
        convs_per_unit = max(1, 2 * max(self.branch_units))
        g0 = self.space_to_depth
        rf = g0 + 3 * 2 * g0  # packing + stem and the two tail convs
        for grid, widths in zip(self.grid_factors, self.dgb_widths):
            levels = len(widths)
            n_bottleneck = num_units - 2 * (levels - 1)
            for level in range(levels):
                units = n_bottleneck if level == levels - 1 else 2
                rf += units * convs_per_unit * 2 * grid * 2**level
        return int(rf)

    def masks_at(self, defocus_map: torch.Tensor | None, factor: int) -> torch.Tensor | None:
        """Annealed masks ``w * M + (1 - w) / N`` at 1/``factor`` resolution, or None.

        None (= equal weights ``1/N``) when there is no map, one branch, or ``w == 0``.
        """
        n = len(self.branch_units)
        if defocus_map is None or n == 1 or self.guidance_weight == 0.0:
            return None
        m = defocus_masks(defocus_map.float(), self.coc_bins)
        if factor > 1:
            m = F.avg_pool2d(m, factor)
        w = self.guidance_weight
        return w * m + (1.0 - w) / n

    # ------------------------------------------------------------------ forward
    def forward(self, blurred: torch.Tensor, defocus_map: torch.Tensor | None = None) -> torch.Tensor:
        h, w = blurred.shape[-2:]
        m = self.size_multiple
        x, _ = pad_to_multiple(blurred, m)
        if defocus_map is not None:
            defocus_map, _ = pad_to_multiple(defocus_map, m, mode="replicate")
        p = self.space_to_depth
        f = self.stem(F.pixel_unshuffle(x, p) if p > 1 else x)
        feats = []
        for i, dgb in enumerate(self.dgbs):
            if i > 0:
                f = self.downs[i - 1](f)
            masks = self.masks_at(defocus_map, self.grid_factors[i])
            f = dgb(f, None if masks is None else masks.to(f.dtype))
            feats.append(f)
        for i in reversed(range(len(self.ups))):
            f = feats[i] + self.ups[i](f)
        r = self.tail(f)
        out = x + (F.pixel_shuffle(r, p) if p > 1 else r)
        return out[..., :h, :w]

    @torch.no_grad()
    def predict(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """Deblur without a map (inference convention). Returns ``{"image": (B,3,H,W) in [0,1]}``."""
        return {"image": self.forward(blurred).clamp(0.0, 1.0)}
