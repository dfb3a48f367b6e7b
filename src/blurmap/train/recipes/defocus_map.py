"""``recipe: defocus_map`` — self-supervised defocus maps with a learnable blur kernel.

DefocusGAN §3 (eqs. 1-5) and its implementation details:

* **f** (:class:`blurmap.models.defocus_map.DefocusMapNet`, model ``"f"``): DP views -> signed
  CoC map; **g** (:class:`blurmap.models.defocus_map.LearnableBlurKernel`, model ``"g"``): the
  DP kernels, initialised as eq. 3.
* **Loss** (:func:`blurmap.losses.reblur.reblur_loss`): the AiF target is reblurred by g with
  f's map into the observed left and right views (L1), plus ``lam * ||grad map||``.
* **Schedule** (paper): f for ``f_epochs`` (10) with g fixed; then f and g alternate every
  ``alternate_every`` (5) epochs until ``epochs`` (30). Adam, lr 2e-5, batch 4, 512 crops.
* **Data**: a DPDD-layout folder (``data_root``; :class:`blurmap.data.dpdd.DPDDDataset`, also
  the output of ``blurmap synth dp``), or DP scenes rendered on the fly from the bundled
  photos (``synthetic_count > 0``; a new random scene per sample and epoch). Synthetic
  ground-truth CoC maps are used **only** for the validation metric ``coc_mae``.
* **Validation**: ``output`` is the AiF reblurred into the combined view (so the logged PSNR
  is the reblur fidelity), ``map`` is the defocus map, and ``coc_mae`` / ``coc_mae_textured``
  (|CoC| error in px, all pixels / pixels whose AiF gradient magnitude exceeds
  ``texture_threshold``) when ground truth exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch

from blurmap.errors import BlurmapError, ConfigError
from blurmap.metrics.texture import texture_mask
from blurmap.train.data import Augment
from blurmap.train.datasets import build_dataset
from blurmap.train.datasets.synthetic_dp import SyntheticDPFields
from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe


def supervised_coc_loss(coc: torch.Tensor, true_coc: torch.Tensor, balance: bool = False, margin: int = 0,
                        bin_width: float = 2.5, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error of the signed CoC (px), optionally balanced over ``|CoC|`` bins.

    With ``balance``, pixels are grouped by the true ``|CoC|`` in bins of ``bin_width`` px and
    every non-empty bin contributes equally (the mean of the per-bin means).

    Args:
        coc, true_coc: ``(B, 1, H, W)`` signed CoC in px.
        balance: balance the bins.
        margin: border pixels left out.
        bin_width: bin width in px.
        mask: ``(B, 1, H, W)`` bool, the pixels that count (e.g. the textured ones: where the
            views carry no blur cue, the map is a guess and its error only adds noise); None = all.
    Returns:
        scalar tensor (px); 0 when no pixel counts.
    """
    if margin > 0:
        crop = (..., slice(margin, -margin), slice(margin, -margin))
        coc, true_coc = coc[crop], true_coc[crop]
        mask = None if mask is None else mask[crop]
    err = (coc - true_coc).abs()
    if mask is not None:
        err, true_coc = err[mask], true_coc[mask]
        if err.numel() == 0:
            return coc.sum() * 0
    if not balance:
        return err.mean()
    bins = (true_coc.abs() / bin_width).floor().long().flatten()
    sums = torch.zeros(int(bins.max()) + 1, dtype=err.dtype, device=err.device).index_add_(0, bins, err.flatten())
    counts = torch.bincount(bins, minlength=sums.numel()).to(err.dtype)
    used = counts > 0
    return (sums[used] / counts[used]).mean()


@dataclass
class DefocusMapConfig(RecipeConfig, SyntheticDPFields):
    # ---- f: DefocusMapNet
    channels: int = 32
    levels: int = 3
    blocks: int = 2
    max_coc: float = 25.0
    # ---- g: learnable kernel (eq. 3 init; "gaussian" for the Table 5 ablation)
    kernel_kind: str = "butterworth"
    learn_kernel: bool = True
    #: start g from a camera's kernels instead (``blurmap calibrate`` output or dp_kernel_bank
    #: weights; fit.camera_kernel_stack); null = ``kernel_kind``
    kernel_file: Optional[str] = None
    # ---- loss (eq. 5)
    lam: float = 1.0e-5
    views: List[str] = field(default_factory=lambda: ["left", "right"])
    #: evaluate the reblur loss on images area-averaged by this factor (1 = paper)
    loss_scale: int = 1
    #: reblur in linear light with this CRF gamma (null = on the stored values). Our choice,
    #: on by default: blur happens in linear light and the synthetic DP data is rendered there.
    #: The DefocusGAN paper never mentions a gamma or a CRF (its loss reads as if on the
    #: stored values); only the LODE/BladeNet paper uses gamma 2.2 (for frame averaging)
    loss_gamma: Optional[float] = 2.2
    #: the reblur g of eq. 4-5: "interp" (each pixel interpolates between the image blurred by
    #: its two neighbouring radii; default: the cheaper one, and the one the starter weights
    #: were trained with) or "layered" (the AiF split into CoC layers, blurred and composited
    #: far to near with occlusion, eq. 4's layered form; benchmarks/reblur_operator.py)
    reblur_operator: str = "interp"
    #: border pixels left out of the L1 term (reflect padding there is not the real scene)
    loss_margin: int = 0
    #: weight of a supervised L1 term on the signed CoC (px), for synthetic data with ground
    #: truth only (0 = the paper's self-supervision alone)
    coc_weight: float = 0.0
    #: balance the supervised term over |CoC| bins of 2.5 px (each bin of a batch weighs the
    #: same), so large blurs, rare in a scene, are not traded for small ones
    coc_balance: bool = False
    #: which pixels the supervised term sees: "textured" (AiF gradient above
    #: texture_threshold, where the views carry a blur cue) or "all"
    coc_pixels: str = "textured"
    # ---- schedule (paper: 10 epochs f, then alternate every 5 until 30)
    lr: float = 2.0e-5
    kernel_lr: Optional[float] = None
    #: cosine decay over the whole run: f's lr falls from ``lr`` to ``lr_final``, g's (``kernel_lr``)
    #: by the same factor (None = constant, as the paper)
    lr_final: Optional[float] = None
    epochs: float = 30
    f_epochs: float = 10
    alternate_every: float = 5
    # ---- data: a DPDD-layout folder ...
    data_root: Optional[str] = None
    train_split: str = "train"
    val_split: str = "val"
    val_count: int = 8
    # ---- ... or DP scenes rendered on the fly (synthetic_count > 0; fields in SyntheticDPFields):
    # a new scene per sample and epoch
    synthetic_fresh: bool = True
    #: texture threshold (AiF gradient magnitude per px) of the coc_mae_textured metric
    texture_threshold: float = 0.02


@register_recipe("defocus_map")
class DefocusMapRecipe(Recipe):
    Config = DefocusMapConfig

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.synthetic_count <= 0 and not cfg.data_root:
            raise ConfigError("give data_root (a DPDD-layout folder) or synthetic_count > 0")
        bad = [v for v in cfg.views if v not in ("left", "right", "combined")]
        if bad or not cfg.views:
            raise ConfigError(f"views: expected a non-empty list of left/right/combined, got {list(cfg.views)}")
        if cfg.coc_pixels not in ("textured", "all"):
            raise ConfigError(f"coc_pixels must be textured or all, got {cfg.coc_pixels!r}")
        if cfg.reblur_operator not in ("interp", "layered"):
            raise ConfigError(f"reblur_operator must be interp or layered, got {cfg.reblur_operator!r}")
        if cfg.lr_final is not None and not 0 < cfg.lr_final <= cfg.lr:
            raise ConfigError(f"lr_final must be in (0, lr], got {cfg.lr_final} (lr {cfg.lr})")
        if not 0 < cfg.f_epochs <= cfg.epochs:
            raise ConfigError(f"f_epochs must be in (0, epochs], got {cfg.f_epochs} (epochs {cfg.epochs})")

    def build_models(self):
        c = self.cfg
        return {
            "f": ModelSpec("defocus_map_net", {"channels": c.channels, "levels": c.levels, "blocks": c.blocks,
                                               "max_coc": c.max_coc}),
            "g": self._kernel_bank(),
        }

    def _kernel_bank(self):
        c = self.cfg
        spec = ModelSpec("dp_kernel_bank", {"max_radius": int(np.ceil(c.max_coc)), "kind": c.kernel_kind})
        if not c.kernel_file:
            return spec
        from blurmap.fit.camera import camera_kernel_stack
        from blurmap.models import build_model

        g = build_model(spec.name, **spec.kwargs)
        try:
            stack = camera_kernel_stack(c.kernel_file, g.max_radius, g.size)
        except BlurmapError as ex:
            raise ConfigError(f"kernel_file: {ex}") from None
        with torch.no_grad():
            g.weight.copy_(stack)
        return g

    def build_optimizers(self, models):
        c = self.cfg
        return {
            "f": torch.optim.Adam(models["f"].parameters(), lr=c.lr, betas=(0.9, 0.999)),
            "g": torch.optim.Adam(models["g"].parameters(), lr=c.kernel_lr or c.lr, betas=(0.9, 0.999)),
        }

    def build_schedulers(self, optimizers, total_steps):
        c = self.cfg
        if c.lr_final is None:
            return {}
        ratio = c.lr_final / c.lr

        def factor(step, n=max(int(total_steps), 1)):
            # the engine steps each scheduler once per optimizer step of the run, whichever
            # model that step trains, so f and g follow one clock
            return ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * min(step, n) / n))

        trained = {"f", "g"} if c.learn_kernel else {"f"}  # a never-stepped optimizer gets no scheduler
        return {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in optimizers.items() if k in trained}

    @property
    def dataset(self) -> str:
        """The data this run trains and validates on: ``synthetic_dp`` or ``dpdd``."""
        return "synthetic_dp" if self.cfg.synthetic_count > 0 else "dpdd"

    def build_datasets(self):
        return {"train": build_dataset(self.dataset, self.cfg, "train")}

    def train_transform(self, name):
        if self.dataset == "synthetic_dp":
            return None  # scenes are rendered at the training size
        return Augment(crop=self.cfg.train.crop_size, rot_flip=True, dual_pixel=True)

    def build_val_datasets(self):
        c = self.cfg
        if self.dataset == "synthetic_dp" and c.synthetic_val_count <= 0:
            return {}
        return {"val": build_dataset(self.dataset, c, "val")}

    def phases(self):
        c = self.cfg
        first = Phase("f_only", epochs=c.f_epochs, train=("f",), losses=("gem",))
        rest = c.epochs - c.f_epochs
        if rest <= 0:
            return [first]
        if not c.learn_kernel:
            return [first, Phase("f_more", epochs=rest, train=("f",), losses=("gem",))]
        return [first, Phase("alternate", epochs=rest, alternate=(
            Phase("g", epochs=c.alternate_every, train=("g",), losses=("gem",)),
            Phase("f", epochs=c.alternate_every, train=("f",), losses=("gem",)),
        ))]

    def _map(self, ctx, batch):
        return ctx.models["f"](torch.cat([batch["left"], batch["right"]], 1))

    def step(self, batch, ctx):
        from blurmap.losses.reblur import reblur_loss

        c = self.cfg
        coc = self._map(ctx, batch).float()
        kernels = ctx.models["g"]("left").float()
        targets = {v: batch[v].float() for v in c.views}
        total, parts = reblur_loss(batch["sharp"].float(), coc, targets, kernels, c.lam, c.loss_scale,
                                   gamma=c.loss_gamma, margin=c.loss_margin, operator=c.reblur_operator)
        logs = {"gem": parts["gem"], "grad": parts["grad"]}
        if c.coc_weight > 0:
            if "coc" not in batch:
                raise ConfigError("coc_weight > 0 needs ground-truth CoC maps (synthetic data)")
            mask = texture_mask(batch["sharp"], c.texture_threshold) if c.coc_pixels == "textured" else None
            logs["coc_l1"] = supervised_coc_loss(coc, batch["coc"].float(), c.coc_balance, c.loss_margin, mask=mask)
            total = total + c.coc_weight * logs["coc_l1"]
        return {"loss": total, **logs}

    def validate(self, batch, ctx):
        from blurmap.physics.defocus import defocus_blur

        coc = self._map(ctx, batch).float()
        kernels = ctx.models["g"]("left").float()
        reblurred = defocus_blur(batch["sharp"].float(), coc, kernels, "combined").clamp(0, 1)
        out = {"input": batch["blur"], "output": reblurred, "target": batch["blur"],
               "map": (coc / (2 * self.cfg.max_coc) + 0.5).clamp(0, 1)}
        if "coc" in batch:
            err = (coc.abs() - batch["coc"].abs()).abs()
            tex = texture_mask(batch["sharp"], self.cfg.texture_threshold)
            out["metrics"] = {"coc_mae": float(err.mean()),
                              "coc_mae_textured": float(err[tex].mean()) if bool(tex.any()) else float("nan")}
        return out
