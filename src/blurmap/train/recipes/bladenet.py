"""``recipe: bladenet`` — BladeNet training (LODE §4.4, §5.2, supplementary B.2).

Schedule (paper defaults, ``configs/bladenet_reds_voc.yaml``):

1. ``lbp``   — the LBP U-Net alone on LBS synthetic pairs with BCE (eq. 1), 100 epochs.
2. ``alt``   — 200 epochs, each split in two half-epochs (§4.4, supp. B.2):
   ``alt/real``: real REDS pairs, MSE, LBP frozen (only the main network trains);
   ``alt/lbs``: LBS synthetic pairs, the whole BladeNet with eq. 5
   ``w_mse * MSE + w_dice * DICE(sum of BSA maps, mask) + w_bce * BCE(LBP, mask)``.
3. ``joint`` — 100 epochs of "the same alternating strategy" (supp. B.2), the whole network
   trains in both halves: ``joint/real`` (REDS, MSE), ``joint/lbs`` (LBS, eq. 5)
   (``joint_mode: alternate``, the default). ``joint_mode: mixed`` instead gives every step
   one REDS and one LBS micro-batch, ``MSE(REDS) + eq. 5(LBS)``.

Optional (``bsa_epochs > 0``): the supplementary's separate BSA stage between ``alt`` and
``joint`` — only the three BSA convolutions train, on LBS pairs, with BCE between the mean of
the three upsampled attention maps and the object mask. ``lbp_epochs=100 alt_epochs=100
bsa_epochs=100 joint_epochs=100`` is the supplementary's literal four-stage reading.

Total 400 epochs with Adam, lr 1e-3 halved every 100 epochs (the epoch length of a step
is taken as ``total_steps / total_epochs``, so the halving follows the schedule whatever
the datasets' sizes). Random 90-degree rotations and flips on every training sample; crops
of ``train.crop_size`` on REDS (LBS samples are generated at that size directly).

Loss weights (paper: "1.0, 0.25, 0.01", without saying which is which): MSE 1.0 (the
restoration objective drives the network), DICE 0.25 (BSA attention is new in phase 2 and
needs real guidance), BCE 0.01 (LBP was pre-trained for 100 epochs; a small weight only
fine-tunes it and keeps it from drifting). All three are config fields.

Supplementary B.2 also mentions a separate 100-epoch BCE stage "for the BSA module"; by
default (``bsa_epochs: 0``) we read that as the LBP pre-training of §4.4 (the main text names
only LBP pre-training and the alternation) and follow three phases; ``bsa_epochs`` runs it.

Variants (flags, see ``configs/bladenet_*.yaml``):

- **BladeNet-**: ``use_lbp: false, use_bsa: false, use_lbs: false`` — main U-Net, MSE, REDS.
- **LBP only** / **BSA only**: ``use_bsa: false`` / ``use_lbp: false``.
- **BladeNet+**: ``init_weights: <bladenet.safetensors>`` and ``finetune_root: <LODE or
  ReLoBlur or paired folders>`` — only a ``finetune`` phase (MSE, + BCE/DICE where the data
  has masks) of ``finetune_epochs``.
- **CPU variants**: no ``reds_root``: every phase uses the on-the-fly LBS dataset
  (:class:`blurmap.synth.local.LocalBlurDataset`, bundled photos and objects by default);
  the ``alt`` and ``joint`` phases collapse into one ``main`` phase on LBS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from blurmap.errors import ConfigError
from blurmap.losses.segmentation import bce_loss, dice_loss
from blurmap.train.data import Augment
from blurmap.train.datasets import build_dataset
from blurmap.train.datasets.local import LBSFields, lbs_config
from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe

__all__ = ["BladeNetConfig", "BladeNetRecipe", "mask_iou"]


def mask_iou(prob: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> float:
    """Intersection over union of ``prob >= threshold`` and ``mask >= 0.5`` (whole batch).

    Returns 1.0 when both are empty.
    """
    p = prob >= threshold
    m = mask >= 0.5
    union = (p | m).sum().item()
    return 1.0 if union == 0 else (p & m).sum().item() / union


@dataclass
class BladeNetConfig(RecipeConfig, LBSFields):
    # --- network (kwargs of the "bladenet" model) ---
    width: int = 64
    lbp_width: Optional[int] = None
    bottleneck_mult: int = 8
    use_lbp: bool = True
    use_bsa: bool = True
    residual: bool = True
    # --- data ---
    #: REDS root (train/train_sharp, train/train_blur); null = LBS only (CPU variants)
    reds_root: Optional[str] = None
    reds_split: str = "train"
    #: train on LBS synthetic pairs at all (false for BladeNet-)
    use_lbs: bool = True
    #: optional extra validation set in any local layout (paired / REDS / ReLoBlur)
    val_root: Optional[str] = None
    val_split: str = "test"
    # --- schedule (epochs) ---
    lbp_epochs: float = 100.0
    #: cycles of (half-epoch REDS, half-epoch LBS) -- or plain LBS epochs without REDS
    alt_epochs: float = 200.0
    joint_epochs: float = 100.0
    #: final phase: alternate (paper, supp. B.2: "the same alternating strategy", half-epochs
    #: of REDS/MSE and LBS/eq. 5, whole network) or mixed (one REDS + one LBS micro-batch a step)
    joint_mode: str = "alternate"
    #: epochs of the supplementary's separate BSA stage (BSA convs only, BCE on LBS masks),
    #: run between alt and joint; 0 = none (our default reading, see the module docstring)
    bsa_epochs: float = 0.0
    # --- BladeNet+ fine-tuning ---
    init_weights: Optional[str] = None
    finetune_root: Optional[str] = None
    finetune_split: str = "train"
    finetune_epochs: float = 0.0
    # --- optimisation ---
    lr: float = 1e-3
    lr_step_epochs: float = 100.0
    lr_gamma: float = 0.5
    w_mse: float = 1.0
    w_dice: float = 0.25
    w_bce: float = 0.01


@register_recipe("bladenet")
class BladeNetRecipe(Recipe):
    Config = BladeNetConfig

    # --- models / optimisation -----------------------------------------------------------
    def model_kwargs(self) -> dict:
        c = self.cfg
        return {
            "width": c.width,
            "lbp_width": c.lbp_width if c.lbp_width is not None else c.width,
            "use_lbp": c.use_lbp,
            "use_bsa": c.use_bsa,
            "residual": c.residual,
            "bottleneck_mult": c.bottleneck_mult,
        }

    def build_models(self):
        if self.cfg.init_weights:
            from blurmap.weights import load_network as load_model

            net = load_model(self.cfg.init_weights)
            if getattr(net, "registry_name", None) != "bladenet":
                raise ConfigError(f"init_weights: {self.cfg.init_weights} does not hold bladenet weights")
            return {"net": net}
        return {"net": ModelSpec("bladenet", self.model_kwargs())}

    def build_optimizers(self, models):
        return {"net": torch.optim.Adam(models["net"].parameters(), lr=self.cfg.lr)}

    def _total_epochs(self) -> float:
        return sum(p.epochs if p.epochs is not None else p.cycles for p in self.phases())

    def build_schedulers(self, optimizers, total_steps):
        steps_per_epoch = total_steps / max(self._total_epochs(), 1e-9)
        step_size = max(1, round(self.cfg.lr_step_epochs * steps_per_epoch))
        return {"net": torch.optim.lr_scheduler.StepLR(optimizers["net"], step_size, gamma=self.cfg.lr_gamma)}

    # --- data -------------------------------------------------------------------------------
    def lbs_config(self):
        """The :class:`~blurmap.synth.local.LocalBlurConfig` of this run's LBS data."""
        return lbs_config(self.cfg)[0]

    def _lbs(self, size: int, length: int, seed: int):
        """LBS pairs of this run's generator at another size, count or seed (benchmarks, tests)."""
        return build_dataset("lbs", self.cfg, "val", size=size, length=length, seed=seed)

    def build_datasets(self):
        c = self.cfg
        sets = {}
        if c.init_weights or c.finetune_root:
            if not c.finetune_root:
                raise ConfigError("finetune_root: needed with init_weights (BladeNet+ fine-tuning)")
            sets["finetune"] = build_dataset("local_folder", c, "train")
            return sets
        if c.use_lbs:
            sets["lbs"] = build_dataset("lbs", c, "train")
        if c.reds_root:
            sets["reds"] = build_dataset("reds", c, "train")
        if not sets:
            raise ConfigError("no training data: set reds_root, or use_lbs: true")
        if c.use_lbp and c.lbp_epochs > 0 and "lbs" not in sets:
            raise ConfigError("lbp_epochs > 0 needs LBS masks (use_lbs: true)")
        return sets

    def train_transform(self, name):
        # LBS samples are generated at crop size; real images are cropped.
        crop = None if name == "lbs" else self.cfg.train.crop_size
        return Augment(crop=crop, rot_flip=True)

    def build_val_datasets(self):
        c = self.cfg
        sets = {}
        if c.val_count > 0 and (c.use_lbs or c.finetune_root is None):
            sets["lbs"] = build_dataset("lbs", c, "val")
        if c.val_root:
            sets["real"] = build_dataset("local_folder", c, "val")
        return sets

    # --- schedule ---------------------------------------------------------------------------
    #: the BSA convolutions inside the main U-Net (the only weights of the BSA stage)
    BSA_MODULES = ("net.main.up2.bsa", "net.main.up3.bsa", "net.main.up4.bsa")

    def phases(self):
        c = self.cfg
        if c.joint_mode not in ("alternate", "mixed"):
            raise ConfigError(f"joint_mode must be alternate or mixed, got {c.joint_mode!r}")
        if c.bsa_epochs < 0:
            raise ConfigError(f"bsa_epochs must be >= 0, got {c.bsa_epochs}")
        if c.bsa_epochs > 0 and not (c.use_bsa and c.use_lbs):
            raise ConfigError("bsa_epochs > 0 needs use_bsa: true and use_lbs: true (LBS masks)")
        full = ("mse", "dice", "bce")
        if c.init_weights or c.finetune_root:
            return [Phase("finetune", epochs=max(c.finetune_epochs, 1e-3), data="finetune", losses=full)]
        phases = []
        if c.use_lbp and c.use_lbs and c.lbp_epochs > 0:
            phases.append(Phase("lbp", epochs=c.lbp_epochs, train=("net.lbp",), losses=("bce",), data="lbs",
                                options={"lbp_only": True}))
        main_epochs = c.alt_epochs + c.joint_epochs
        if c.reds_root and c.use_lbs:
            real_train = ("net.main",) if c.use_lbp else None
            if c.alt_epochs > 0:
                phases.append(Phase("alt", cycles=max(1, math.ceil(c.alt_epochs)), alternate=(
                    Phase("real", epochs=0.5, data="reds", losses=("mse",), train=real_train),
                    Phase("lbs", epochs=0.5, data="lbs", losses=full),
                )))
            if c.bsa_epochs > 0:
                phases.append(self._bsa_phase())
            if c.joint_epochs > 0 and c.joint_mode == "mixed":
                phases.append(Phase("joint", epochs=c.joint_epochs, data=("reds", "lbs"), losses=full))
            elif c.joint_epochs > 0:
                phases.append(Phase("joint", cycles=max(1, math.ceil(c.joint_epochs)), alternate=(
                    Phase("real", epochs=0.5, data="reds", losses=("mse",)),
                    Phase("lbs", epochs=0.5, data="lbs", losses=full),
                )))
        elif c.reds_root and main_epochs > 0:  # BladeNet-: REDS only, MSE
            phases.append(Phase("main", epochs=main_epochs, data="reds", losses=("mse",)))
        elif main_epochs > 0 or c.bsa_epochs > 0:  # CPU variants: LBS only
            if c.bsa_epochs > 0:
                phases.append(self._bsa_phase())
            if main_epochs > 0:
                phases.append(Phase("main", epochs=main_epochs, data="lbs", losses=full))
        if not phases:
            raise ConfigError("empty schedule: every phase has 0 epochs")
        return phases

    def _bsa_phase(self) -> Phase:
        return Phase("bsa", epochs=self.cfg.bsa_epochs, train=self.BSA_MODULES, losses=("bce_bsa",), data="lbs",
                     options={"bsa_only": True})

    # --- losses -----------------------------------------------------------------------------
    def _losses(self, net, batch: dict, ctx) -> dict:
        c = self.cfg
        out = net(batch["blur"], outputs="all")  # through __call__: a DDP wrapper syncs gradients
        logs = {}
        total = 0.0
        if ctx.loss_on("mse"):
            logs["mse"] = F.mse_loss(out["image"].float(), batch["sharp"].float())
            total = total + c.w_mse * logs["mse"]
        mask = batch.get("mask")
        if mask is not None:
            if ctx.loss_on("dice") and "attention" in out:
                logs["dice"] = dice_loss(out["attention"], mask)
                total = total + c.w_dice * logs["dice"]
            if ctx.loss_on("bce") and "lbp_logits" in out:
                logs["bce"] = bce_loss(out["lbp_logits"], mask)
                total = total + c.w_bce * logs["bce"]
        logs["loss"] = total
        return logs

    def step(self, batch, ctx):
        if ctx.phase.options.get("lbp_only"):
            loss = bce_loss(ctx.models["net"](batch["blur"], outputs="lbp"), batch["mask"])
            return {"loss": loss, "bce": loss}
        if ctx.phase.options.get("bsa_only"):
            out = ctx.models["net"](batch["blur"], outputs="all")
            # eq. 4 sums three sigmoid maps (values in [0, 3]); their mean is a probability
            prob = (out["attention"].float() / 3).clamp(1e-6, 1 - 1e-6)
            loss = F.binary_cross_entropy(prob, batch["mask"].float())
            return {"loss": loss, "bce_bsa": loss}
        if isinstance(ctx.phase.data, tuple):  # joint (mixed): {"reds": batch, "lbs": batch}
            result, total = {}, 0.0
            for name, b in batch.items():
                logs = self._losses(ctx.models["net"], b, ctx)
                total = total + logs.pop("loss")
                result.update({f"{name}_{k}": v for k, v in logs.items()})
            result["loss"] = total
            return result
        return self._losses(ctx.models["net"], batch, ctx)

    def validate(self, batch, ctx):
        from blurmap.metrics import masked_psnr

        net = ctx.models["net"]
        out = net(batch["blur"], outputs="all")
        image = out["image"].float().clamp(0, 1)
        res = {"input": batch["blur"], "output": image, "target": batch["sharp"]}
        metrics = {}
        if "lbp_logits" in out:
            res["map"] = torch.sigmoid(out["lbp_logits"].float())
        elif "attention" in out:
            res["map"] = (out["attention"].float() / 3).clamp(0, 1)
        mask = batch.get("mask")
        if mask is not None:
            if "map" in res:
                metrics["mask_iou"] = mask_iou(res["map"], mask)
            vals, base = [], []
            for i in range(image.shape[0]):
                m = mask[i, 0].float().cpu().numpy()
                if m.sum() == 0:
                    continue
                p = image[i].permute(1, 2, 0).cpu().double().numpy()
                g = batch["sharp"][i].permute(1, 2, 0).float().cpu().double().numpy()
                b = batch["blur"][i].permute(1, 2, 0).float().cpu().double().numpy()
                vals.append(masked_psnr(p, g, m))
                base.append(masked_psnr(b, g, m))
            if vals:
                metrics["masked_psnr"] = float(sum(vals) / len(vals))
                metrics["masked_psnr_gain"] = float(sum(vals) / len(vals) - sum(base) / len(base))
        res["metrics"] = metrics
        return res
