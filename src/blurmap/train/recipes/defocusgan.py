"""``recipe: defocusgan`` — DefocusGAN training (paper "Implementation details", eq. 8).

``L_G = L_c + alpha * L_p + beta * L_defocusadv`` with ``L_c`` = L1, ``L_p`` = VGG ``conv3_3``
MSE (VGG19 with user weights, else the offline VGG16 — recorded as ``perceptual_backbone``
in the log and the validation metrics), ``L_defocusadv`` = eq. (7) with WGAN-GP on the
critic (``gan_loss: ragan_ls`` = DeblurGAN-v2's RaGAN-LS, for Table 6's doubleGAN row).
Paper defaults (``configs/defocusgan_dpdd.yaml``): 512x512 patches of the blurred image plus
its defocus map, batch 4, Adam (0.9, 0.999), lr 2e-4 halved every 30 epochs, ~90 epochs, mask guidance annealed to zero over 2e4 iterations.

Choices where the paper is silent (see ``docs/defocusgan.md``):

* **GAN warm-up**: the critic and the adversarial term start after ``gan_warmup_epochs``
  (default 5) of L1 (+ perceptual) training, so the critic first sees plausible restorations
  rather than noise — the usual practice for restoration GANs (DeblurGAN-v2 fine-tunes from
  a content-loss start). The critic's learning rate equals the generator's.
* **Patches**: DPDD frames are cut into ``patch_size`` windows with stride ``patch_stride``
  (default 512 / 384: 15 patches per 1680x1120 frame, 5250 per epoch, ~1300 iterations per
  epoch at batch 4, so 2e4 annealing iterations = ~15 epochs, matching the paper's "after
  about 15 epochs the model no longer relies on the defocus map"). ``min_sharpness`` drops
  windows whose *target* has a variance of the Laplacian below the threshold (flat sky, walls:
  no deblurring signal).
* **Defocus maps**: ``maps: gt`` reads ``{split}_c/coc/*.npy`` (the synthetic ground truth of
  ``blurmap synth dp``); ``maps: net`` runs a trained DefocusMapNet (``map_weights``) once per
  training frame on its DP views and caches the maps as ``.npy`` in ``map_cache``;
  ``maps: none`` trains unguided.
* **Synthetic data** (``synthetic_count > 0``, the CPU variant and the starter weights): DP
  scenes rendered on the fly from the bundled photos with :func:`blurmap.synth.dp.make_dp_sample`
  (cached in memory after the first epoch); photos in ``synthetic_holdout`` are used only
  for validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from blurmap.errors import ConfigError
from blurmap.train.data import Augment
from blurmap.train.datasets import build_dataset
from blurmap.train.datasets.synthetic_dp import SyntheticDPFields
from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe

# --------------------------------------------------------------------------- config


def focus_weighted_l1(out: torch.Tensor, sharp: torch.Tensor, coc: torch.Tensor | None, weight: float) -> torch.Tensor:
    """L1 where in-focus pixels (``|coc| < 1`` px) count ``1 + weight`` times (a weighted mean).

    Args:
        out, sharp: ``(B, 3, H, W)``.
        coc: ``(B, 1, H, W)`` signed CoC in px, or None (then plain L1).
        weight: extra weight of in-focus pixels (0 = plain L1).
    Returns:
        scalar tensor.
    """
    if weight <= 0 or coc is None:
        return F.l1_loss(out, sharp)
    w = 1.0 + weight * (coc.abs() < 1.0).to(out.dtype)
    return ((out - sharp).abs() * w).sum() / (w.sum() * out.shape[1])


@dataclass
class DefocusGANConfig(RecipeConfig, SyntheticDPFields):
    # ---- models
    #: registry name of the generator (``defocusgan`` or ``fpn_deblur`` for Table 6)
    generator: str = "defocusgan"
    generator_kwargs: Dict[str, Any] = field(default_factory=dict)
    #: ``patchgan`` (paper), ``double_discriminator`` (DeblurGAN-v2 ablation) or ``none``
    discriminator: str = "patchgan"
    discriminator_kwargs: Dict[str, Any] = field(default_factory=dict)
    # ---- data: a DPDD-layout folder ...
    data_root: Optional[str] = None
    train_split: str = "train"
    #: validation split of data_root (null = no validation)
    val_split: Optional[str] = "val"
    #: defocus maps that guide training: gt (coc/*.npy), net (DefocusMapNet, cached), none
    maps: str = "gt"
    map_weights: Optional[str] = None
    #: cache folder of network maps (default: RUN/maps/<split>)
    map_cache: Optional[str] = None
    patch_size: int = 512
    patch_stride: int = 384
    min_sharpness: float = 0.0
    #: random rot90/flip of the training crops. The paper's protocol implies none (it retrains
    #: IFAN *without* its augmentation for a fair comparison), hence off by default and in the
    #: DPDD and ablation configs; the synthetic CPU configs turn it on (six photos: the extra
    #: views fight memorisation)
    augment: bool = False
    # ---- ... or synthetic DP scenes (synthetic_count > 0; fields in SyntheticDPFields): a
    # fixed, cached set of small-blur scenes without the DP views (this recipe does not use them)
    synthetic_max_coc: float = 8.0
    synthetic_keys: Optional[List[str]] = field(default_factory=lambda: ["blur", "sharp", "coc"])
    # ---- losses (eq. 8)
    #: extra L1 weight of in-focus pixels (|CoC| < 1 px, from the ground-truth map): with w > 0
    #: a pixel in focus counts 1 + w times, so the net learns to leave sharp regions as they are
    #: (0 = the paper's plain L1)
    focus_weight: float = 0.0
    alpha: float = 0.012
    beta: float = 0.002
    perceptual: bool = True
    #: auto (VGG19 if vgg_weights else the offline VGG16), vgg16 or vgg19
    vgg: str = "auto"
    vgg_weights: Optional[str] = None
    #: defocus (eq. 7, weighted by phi(I_DM)) or original (uniform weights)
    adversarial: str = "defocus"
    phi_bin_weights: List[float] = field(default_factory=lambda: [1.0, 2.0, 3.0, 4.0])
    #: wgan_gp (paper: WGAN-GP critic) or ragan_ls (relativistic average LSGAN, the loss
    #: DeblurGAN-v2 trains its double-scale discriminator with: Table 6's doubleGAN row).
    #: Either way one critic update per generator update (the paper does not state the
    #: ratio; DeblurGAN-v2 uses 1:1, WGAN-GP's authors 5:1 -- we keep 1:1 for both)
    gan_loss: str = "wgan_gp"
    gp_weight: float = 10.0
    # ---- optimisation
    lr: float = 2e-4
    lr_d: float = 2e-4
    lr_halve_epochs: float = 30.0
    epochs: float = 90.0
    #: epochs of generator-only training before the critic and the adversarial term start
    gan_warmup_epochs: float = 5.0
    #: iterations over which the mask guidance weight goes to 0 (paper: 2e4); 0 = unguided
    anneal_iters: int = 20000
    #: gauss (exp(-(2t/T)^2)), cosine, linear, none (always guided)
    anneal_kind: str = "gauss"


# --------------------------------------------------------------------------- recipe


@register_recipe("defocusgan")
class DefocusGANRecipe(Recipe):
    Config = DefocusGANConfig

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.adversarial not in ("defocus", "original"):
            raise ConfigError(f"adversarial must be 'defocus' or 'original', got {cfg.adversarial!r}")
        if cfg.gan_loss not in ("wgan_gp", "ragan_ls"):
            raise ConfigError(f"gan_loss must be 'wgan_gp' or 'ragan_ls', got {cfg.gan_loss!r}")
        if cfg.maps not in ("gt", "net", "none"):
            raise ConfigError(f"maps must be gt, net or none, got {cfg.maps!r}")
        if cfg.synthetic_count <= 0 and not cfg.data_root:
            raise ConfigError("give data_root (a DPDD-layout folder) or synthetic_count > 0")
        if cfg.adversarial == "defocus" and cfg.maps == "none" and cfg.discriminator != "none" and cfg.beta > 0:
            raise ConfigError("adversarial=defocus weights the critic by the defocus map; give maps "
                              "(gt or net) or use adversarial=original")
        if cfg.maps == "net" and not cfg.map_weights:
            raise ConfigError("maps=net needs map_weights (a trained DefocusMapNet)")
        self._perceptual = None
        self._adv = None

    # ---- models
    @property
    def use_gan(self) -> bool:
        return self.cfg.discriminator != "none" and self.cfg.beta > 0

    def build_models(self):
        models = {"G": ModelSpec(self.cfg.generator, dict(self.cfg.generator_kwargs))}
        if self.use_gan:
            models["D"] = ModelSpec(self.cfg.discriminator, dict(self.cfg.discriminator_kwargs))
        return models

    def build_optimizers(self, models):
        opts = {"G": torch.optim.Adam(models["G"].parameters(), lr=self.cfg.lr, betas=(0.9, 0.999))}
        if "D" in models:
            opts["D"] = torch.optim.Adam(models["D"].parameters(), lr=self.cfg.lr_d, betas=(0.9, 0.999))
        return opts

    def build_schedulers(self, optimizers, total_steps):
        # lr halved every lr_halve_epochs epochs; the engine steps schedulers once per step
        steps_per_epoch = total_steps / max(self.cfg.epochs, 1e-9)
        step_size = max(1, round(self.cfg.lr_halve_epochs * steps_per_epoch))
        return {k: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=0.5) for k, o in optimizers.items()}

    # ---- data
    @property
    def dataset(self) -> str:
        """The data this run trains and validates on: ``synthetic_dp`` or ``dpdd_patches``."""
        return "synthetic_dp" if self.cfg.synthetic_count > 0 else "dpdd_patches"

    def build_datasets(self):
        return {"train": build_dataset(self.dataset, self.cfg, "train")}

    def train_transform(self, name):
        return Augment(crop=self.cfg.train.crop_size, rot_flip=self.cfg.augment)

    def build_val_datasets(self):
        c = self.cfg
        wanted = c.synthetic_val_count > 0 if self.dataset == "synthetic_dp" else bool(c.val_split)
        return {"val": build_dataset(self.dataset, c, "val")} if wanted else {}

    # ---- schedule
    def phases(self):
        c = self.cfg
        content = ("l1", "perceptual") if c.perceptual and c.alpha > 0 else ("l1",)
        g_only = Phase("content", epochs=c.epochs, train=("G",), losses=content)
        if not self.use_gan:
            return [g_only]
        warm = min(c.gan_warmup_epochs, c.epochs)
        gan = Phase("gan", epochs=c.epochs - warm, train=("G", "D"), losses=content + ("adv",))
        if warm <= 0:
            return [gan]
        if warm >= c.epochs:
            return [Phase("content", epochs=c.epochs, train=("G",), losses=content)]
        return [Phase("content", epochs=warm, train=("G",), losses=content), gan]

    # ---- losses
    def perceptual_loss(self, device):
        """The frozen VGG loss, built on first use (records which VGG in ``backbone``)."""
        if self._perceptual is None:
            from blurmap.losses.perceptual import PerceptualLoss

            self._perceptual = PerceptualLoss(net=self.cfg.vgg, weights=self.cfg.vgg_weights).to(device)
        return self._perceptual

    def adversarial_loss(self):
        if self._adv is None:
            from blurmap.losses.adversarial import DefocusAdversarialLoss

            bins = self.cfg.generator_kwargs.get("coc_bins", (1.9, 4.2, 6.2))
            self._adv = DefocusAdversarialLoss(weighted=self.cfg.adversarial == "defocus", bins=bins,
                                               bin_weights=self.cfg.phi_bin_weights, gp_weight=self.cfg.gp_weight,
                                               kind=self.cfg.gan_loss)
        return self._adv

    def _set_guidance(self, ctx) -> float:
        from blurmap.models.defocusgan import guidance_weight_schedule

        g = ctx.unwrap("G")
        if not hasattr(g, "set_guidance_weight"):
            return 0.0
        w = guidance_weight_schedule(ctx.step, self.cfg.anneal_iters, self.cfg.anneal_kind) if self.cfg.maps != "none" else 0.0
        g.set_guidance_weight(w)
        return w

    def step(self, batch, ctx):
        blur, sharp = batch["blur"], batch["sharp"]
        dmap = batch.get("coc")
        w = self._set_guidance(ctx)
        out = ctx.models["G"](blur, dmap if w > 0 else None)
        logs: dict[str, Any] = {"guidance": w}
        adv_on = ctx.loss_on("adv")
        if adv_on:
            d_losses = self.adversarial_loss().critic_loss(ctx.models["D"], sharp, out, dmap)
            ctx.backward(d_losses["loss"])
            ctx.optimizer_step("D")
            logs.update({f"d_{k}": v.detach() for k, v in d_losses.items() if k != "loss"})
        l1 = focus_weighted_l1(out.float(), sharp.float(), dmap, self.cfg.focus_weight)
        loss = l1
        logs["l1"] = l1.detach()
        if ctx.loss_on("perceptual"):
            lp = self.perceptual_loss(ctx.device)(out, sharp)
            loss = loss + self.cfg.alpha * lp
            logs["perceptual"] = lp.detach()
        if adv_on:
            with ctx.frozen("D"):
                la = self.adversarial_loss().generator_loss(ctx.models["D"], out, dmap, real=sharp)
            loss = loss + self.cfg.beta * la
            logs["adv"] = la.detach()
        ctx.backward(loss)
        ctx.optimizer_step("G")
        logs["loss"] = loss.detach()
        return logs

    def validate(self, batch, ctx):
        g = ctx.unwrap("G")
        if hasattr(g, "set_guidance_weight"):
            saved = g.guidance_weight
            g.set_guidance_weight(0.0)  # inference is unguided (single image)
        out = ctx.models["G"](batch["blur"]).float().clamp(0, 1)
        if hasattr(g, "set_guidance_weight"):
            g.set_guidance_weight(saved)
        res = {"input": batch["blur"], "output": out, "target": batch["sharp"],
               "metrics": {"psnr_input": _psnr(batch["blur"], batch["sharp"])}}
        if "coc" in batch:
            res["map"] = batch["coc"].abs() / batch["coc"].abs().amax().clamp_min(1e-6)
        return res


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean per-image PSNR of ``(B, 3, H, W)`` batches, as the engine scores ``val/psnr``, so the
    two numbers compare (a PSNR of the pooled batch reads lower when one image is near-exact)."""
    from blurmap.metrics import psnr

    a = a.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    b = b.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return float(np.mean([psnr(x, y) for x, y in zip(a, b)]))
