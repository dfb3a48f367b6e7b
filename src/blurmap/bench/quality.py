"""Model quality in and out of the training distribution (``blurmap bench quality``).

Every model is scored on two splits of fixed-seed synthetic scenes with ground truth:

- **in-distribution** (``in``): scenes like those its recipe trains on, from seeds no recipe
  uses. A shipped model names its split in the weights registry
  (:data:`blurmap.weights_data.SHIPPED`, field ``bench_split``); other weights use the split of
  the current starter recipe of their task (:data:`DEFAULT_IN_SPLITS`).
- **shifted** (``shifted``): scenes built from content no recipe can train on
  (:mod:`blurmap.synth.holdout`): held-out photos, objects, textures, scene layout, DP PSF, tone
  curve and curved motion paths.

Numbers per task:

- **defocus** (DefocusGAN, single-image deblurring): PSNR and SSIM of the input and the output
  against the all-in-focus image, per ``|CoC|`` bin (pixels pooled over the split's scenes: MSE
  -> PSNR, SSIM map averaged), in-focus pixels (``|CoC| < 1`` px) included, and whole-image
  LPIPS (AlexNet);
- **defocus map** (DefocusMapNet, and the per-pair fit ``--optimize``): MAE of ``|CoC|`` on
  textured pixels (AiF gradient > 0.02 / px), the bias ``mean(|est| - |true|)`` per ``|CoC|``
  bin, and the sign accuracy on textured pixels with ``|CoC| > 3`` px;
- **blur mask** (the LBP of a BladeNet): IoU of ``p > 0.5`` with the motion mask, pooled over
  the split, and the share of static pixels marked blurred;
- **local deblurring** (BladeNet): mask-weighted PSNR of input and output, its gain, the PSNR
  over the static region (outside the mask) and the full-image PSNR gain (mean and worst scene).

Scenes are rendered once per split and shared by every model scored on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from blurmap.bench.table import Column
from blurmap.errors import BlurmapError

__all__ = ["COC_BINS", "BIAS_BINS", "SPLITS", "DEFAULT_IN_SPLITS", "QualityPlan", "plan_models", "with_in_split",
           "quality_rows", "QUALITY_COLUMNS"]

#: |CoC| bins (px) of the defocus deblurring table; "in focus" is the first
COC_BINS = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 10.0), (10.0, 15.0), (15.0, 25.5))
#: |CoC| bins of the map bias
BIAS_BINS = ((0.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.5))
TEXTURE_THRESHOLD = 0.02
SEED = 7_000_001


@dataclass(frozen=True)
class Split:
    """A named scene set: its task (``dp`` or ``local``), a description and its generator."""

    name: str
    task: str
    about: str
    make: Callable[[int, bool], list[dict]]  # (count, quick) -> scenes


def _hwc(t) -> np.ndarray:
    return np.ascontiguousarray(t.float().clamp(0, 1).permute(1, 2, 0).numpy(), dtype=np.float32)


def _dp_dataset_scenes(count: int, size: int, max_coc: float, *, photos=None, source=None, scene="random",
                       options=None, seed: int = SEED) -> list[dict]:
    from blurmap.synth.dp_dataset import SyntheticDPDataset

    ds = SyntheticDPDataset(photos, count, size, max_coc, seed=seed, scene=scene, source=source,
                            scene_options=options)
    out = []
    for i in range(count):
        s = ds[i]
        out.append({"aif": _hwc(s["sharp"]), "combined": _hwc(s["blur"]), "left": _hwc(s["left"]),
                    "right": _hwc(s["right"]), "coc": s["coc"][0].numpy()})
    return out


def _dp_bundled_6px(count: int, quick: bool) -> list[dict]:
    from blurmap.synth.bundled import bundled_split

    return _dp_dataset_scenes(count, 96 if quick else 160, 6.0, photos=bundled_split(["chelsea"], True), scene="mixed")


def _dp_bundled_20px(count: int, quick: bool) -> list[dict]:
    from blurmap.eval.defocus_map import heldout_dp_scenes

    size = (96, 128) if quick else (192, 256)
    return [{k: s[k] for k in ("aif", "combined", "left", "right", "coc")} for s in heldout_dp_scenes(count, size, seed=SEED)]


#: scene options of the procedural DP starter recipes (configs/*_starter.yaml)
PROCEDURAL_DP_OPTIONS = {"psf": "random", "nothing_in_focus": 0.1, "all_in_focus": 0.05,
                         "tone_curves": ["gamma2.2", "srgb", "gamma2.0", "gamma2.6"]}


def _dp_procedural(count: int, quick: bool) -> list[dict]:
    return _dp_dataset_scenes(count, 96 if quick else 256, 25.0, source="procedural,bundled",
                              options=PROCEDURAL_DP_OPTIONS)


def _dp_shifted(count: int, quick: bool) -> list[dict]:
    from blurmap.synth.holdout import shifted_dp_scene

    size = (96, 128) if quick else (256, 384)
    return [shifted_dp_scene(i, SEED, size) for i in range(count)]


def _local_scenes(ds, count: int) -> list[dict]:
    out = []
    for i in range(count):
        s = ds[i]
        out.append({"blur": _hwc(s["blur"]), "sharp": _hwc(s["sharp"]), "mask": s["mask"][0].numpy()})
    return out


def _local_bundled(count: int, quick: bool) -> list[dict]:
    from dataclasses import replace

    from blurmap.physics.motion import MotionRanges
    from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset

    # the LBS settings of configs/bladenet_starter.yaml (translation-dominated, 96 px crops)
    cfg = replace(LocalBlurConfig(), motion=MotionRanges(speed=(0.004, 0.015), spin=(-1.0, 1.0), zoom=(-0.01, 0.01)))
    return _local_scenes(LocalBlurDataset(96 if quick else 128, count, SEED, config=cfg), count)


#: LBS options of the procedural local-blur starter recipes
PROCEDURAL_LOCAL_OPTIONS = {"extent": [0.0, 60.0], "rotation": 10.0, "scale": 0.15, "num_static": [0, 3],
                            "noise": 5e-4, "read_noise": 4e-3, "jpeg_prob": 0.3, "jpeg_quality": [70, 95],
                            "tone_curves": ["gamma2.2", "srgb", "gamma2.0", "gamma2.6"]}


def _local_procedural(count: int, quick: bool) -> list[dict]:
    from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset, local_config

    cfg, proc = local_config(LocalBlurConfig(), PROCEDURAL_LOCAL_OPTIONS)
    ds = LocalBlurDataset(128 if quick else 256, count, SEED, "procedural,bundled", "procedural,bundled", cfg, proc)
    return _local_scenes(ds, count)


def _local_shifted(count: int, quick: bool) -> list[dict]:
    from blurmap.synth.holdout import shifted_local_sample

    size = (120, 160) if quick else (480, 640)
    out = []
    for i in range(count):
        s = shifted_local_sample(i, SEED, size)
        out.append({"blur": _hwc(s["blur"]), "sharp": _hwc(s["sharp"]), "mask": s["mask"][0].numpy()})
    return out


SPLITS: dict[str, Split] = {s.name: s for s in (
    Split("dp-bundled-6px", "dp", "bundled chelsea, 160 px, |CoC| <= 6 px, layered + plane scenes (eq. 3 PSF)",
          _dp_bundled_6px),
    Split("dp-bundled-20px", "dp", "bundled chelsea / camera, 192x256, |CoC| <= 20 px (eq. 3 PSF)", _dp_bundled_20px),
    Split("dp-procedural", "dp", "procedural + bundled, 256 px, |CoC| <= 25 px, random PSF family and tone curve",
          _dp_procedural),
    Split("dp-shifted", "dp", "held-out content, ground layouts / tilted photos, 256x384, |CoC| <= 20 px, "
          "aberrated PSF, filmic tone", _dp_shifted),
    Split("local-bundled", "local", "bundled LBS, 128 px, translation-dominated motion", _local_bundled),
    Split("local-procedural", "local", "procedural + bundled LBS, 256 px, motion 0-60 px, rotation, scale, "
          "noise, JPEG", _local_procedural),
    Split("local-shifted", "local", "held-out backgrounds and objects, 640x480, 12-40 px curved motion with "
          "rotation and scale, filmic tone, noise", _local_shifted),
)}

#: the in-distribution split of weights that name none, per task (the current starter recipes)
DEFAULT_IN_SPLITS = {"defocus": "dp-procedural", "defocus-map": "dp-procedural", "optimize": "dp-procedural",
                     "local": "local-procedural"}
SHIFTED_SPLITS = {"defocus": "dp-shifted", "defocus-map": "dp-shifted", "optimize": "dp-shifted",
                  "local": "local-shifted"}


# ----------------------------------------------------------------------------------- scoring


def _bin_masks(coc: np.ndarray, bins) -> list[np.ndarray]:
    a = np.abs(coc)
    return [(a >= lo) & (a < hi) for lo, hi in bins]


def score_defocus(model, scenes: list[dict], lpips=None) -> list[dict]:
    """PSNR / SSIM of input and output per |CoC| bin (pooled), and whole-image LPIPS.

    Returns:
        one row per bin (``bin`` = ``"all"``, ``">= 6 px"``, then :data:`COC_BINS`), each with
        ``psnr_in``, ``psnr_out``, ``ssim_in``, ``ssim_out``, ``pixels`` and, for ``"all"``,
        ``lpips_in``, ``lpips_out``.
    """
    import torch

    from blurmap.metrics import lpips_distance, ssim_map

    names = ["all", ">= 6 px"] + [f"{lo:g}-{min(hi, 25):g} px" if lo > 0 else "in focus (< 1 px)" for lo, hi in COC_BINS]
    acc = {n: {"se_in": 0.0, "se_out": 0.0, "ssim_in": 0.0, "ssim_out": 0.0, "n": 0} for n in names}
    lp_in, lp_out = [], []
    for s in scenes:
        with torch.no_grad():
            out = np.asarray(model.deblur(s["combined"]), dtype=np.float64)
        inp, gt = s["combined"].astype(np.float64), s["aif"].astype(np.float64)
        se_in, se_out = ((inp - gt) ** 2).mean(-1), ((out - gt) ** 2).mean(-1)
        ss_in, ss_out = ssim_map(inp, gt), ssim_map(out, gt)
        masks = [np.ones(gt.shape[:2], bool), np.abs(s["coc"]) >= 6] + _bin_masks(s["coc"], COC_BINS)
        for name, m in zip(names, masks):
            a = acc[name]
            a["se_in"] += float(se_in[m].sum())
            a["se_out"] += float(se_out[m].sum())
            a["ssim_in"] += float(ss_in[m].sum())
            a["ssim_out"] += float(ss_out[m].sum())
            a["n"] += int(m.sum())
        if lpips is not None and min(gt.shape[:2]) >= 16:
            lp_in.append(lpips_distance(lpips, inp, gt))
            lp_out.append(lpips_distance(lpips, out, gt))
    rows = []
    for name in names:
        a = acc[name]
        if a["n"] == 0:
            rows.append({"bin": name, "pixels": 0})
            continue
        def psnr(se: float, n: int = a["n"]) -> float:
            return math.inf if se == 0 else 10 * math.log10(n / se)

        row = {"bin": name, "pixels": a["n"], "psnr_in": psnr(a["se_in"]), "psnr_out": psnr(a["se_out"]),
               "ssim_in": a["ssim_in"] / a["n"], "ssim_out": a["ssim_out"] / a["n"]}
        row["psnr_gain"] = row["psnr_out"] - row["psnr_in"]
        if name == "all" and lp_in:
            row["lpips_in"], row["lpips_out"] = float(np.mean(lp_in)), float(np.mean(lp_out))
        rows.append(row)
    return rows


def score_maps(estimate, scenes: list[dict]) -> dict:
    """Map errors of ``estimate(left, right) -> (H, W) signed CoC`` over a split.

    Returns:
        ``mae_textured`` (px), ``sign_accuracy`` (textured, |CoC| > 3 px; NaN if none),
        ``bias`` ({bin label: mean(|est| - |true|) on textured pixels}), ``pixels``.
    """
    from blurmap.eval.defocus_map import texture_mask

    err_sum, n, sign_ok, sign_n = 0.0, 0, 0, 0
    bias = {f"{lo:g}-{min(hi, 25):g}": [0.0, 0] for lo, hi in BIAS_BINS}
    for s in scenes:
        est = np.asarray(estimate(s["left"], s["right"]), dtype=np.float64)
        true = s["coc"].astype(np.float64)
        tex = texture_mask(s["aif"], TEXTURE_THRESHOLD)
        diff = np.abs(est) - np.abs(true)
        err_sum += float(np.abs(diff)[tex].sum())
        n += int(tex.sum())
        strong = tex & (np.abs(true) > 3)
        sign_ok += int((np.sign(est[strong]) == np.sign(true[strong])).sum())
        sign_n += int(strong.sum())
        for b, m in zip(bias.values(), _bin_masks(true, BIAS_BINS)):
            sel = m & tex
            b[0] += float(diff[sel].sum())
            b[1] += int(sel.sum())
    return {"mae_textured": err_sum / n if n else math.nan,
            "sign_accuracy": sign_ok / sign_n if sign_n else math.nan,
            "bias": {k: (v[0] / v[1] if v[1] else math.nan) for k, v in bias.items()}, "pixels": n}


def score_local(model, scenes: list[dict]) -> dict:
    """LBP IoU and BladeNet PSNRs over a split (see the module docstring)."""
    import torch

    from blurmap.metrics import masked_psnr, psnr

    inter = union = static_fp = static_n = 0
    gains, full_gains, static_se, static_px = [], [], 0.0, 0
    for s in scenes:
        with torch.no_grad():
            out = model.predict(s["blur"])
        img = np.asarray(out["image"], dtype=np.float64)
        gt, inp = s["sharp"].astype(np.float64), s["blur"].astype(np.float64)
        m = s["mask"] >= 0.5
        if "map" in out:
            p = np.asarray(out["map"]) > 0.5
            inter += int((p & m).sum())
            union += int((p | m).sum())
            static_fp += int((p & ~m).sum())
            static_n += int((~m).sum())
        if m.any():
            gains.append(masked_psnr(img, gt, m) - masked_psnr(inp, gt, m))
        full_gains.append(psnr(img, gt) - psnr(inp, gt))
        static_se += float(((img - gt) ** 2).mean(-1)[~m].sum())
        static_px += int((~m).sum())
    return {"iou": inter / union if union else math.nan,
            "static_marked": static_fp / static_n if static_n else math.nan,
            "masked_psnr_gain": float(np.mean(gains)) if gains else math.nan,
            "static_psnr": (math.inf if static_se == 0 else 10 * math.log10(static_px / static_se)) if static_px else math.nan,
            "full_psnr_gain": float(np.mean(full_gains)), "worst_full_psnr_gain": float(np.min(full_gains))}


# -------------------------------------------------------------------------------------- plan


@dataclass
class QualityPlan:
    """What to score: ``(label, task, weights)`` entries and the split of each.

    ``task`` is ``defocus``, ``defocus-map``, ``optimize`` (the per-pair fit, ``weights`` None)
    or ``local``.
    """

    entries: list[tuple[str, str, str | None, str]]  # label, task, weights, in-split


def plan_models(weights: list[str] | None, optimize: bool = True) -> QualityPlan:
    """The entries for ``--weights`` (shipped names or files; default: every shipped model).

    Raises:
        BlurmapError: an unknown name, a missing file, or weights of a model the bench cannot score.
    """
    from blurmap.api import resolve_weights, weights_model_name
    from blurmap.weights_data import find_entry

    task_of = {"defocusgan": "defocus", "defocus_map_net": "defocus-map", "bladenet": "local"}
    entries = []
    names = weights if weights else [n for n in ("defocus", "defocus-map", "local") if find_entry(n) is not None]
    for name in names:
        path = resolve_weights(name)
        model, _ = weights_model_name(path)
        task = task_of.get(model)
        if task is None:
            raise BlurmapError(f"{name}: {model} weights are not scored by bench quality "
                               f"(it scores {', '.join(task_of)})")
        entry = find_entry(str(name))
        split = (entry.bench_split if entry is not None else None) or DEFAULT_IN_SPLITS[task]
        entries.append((name, task, str(path), split))
    if optimize:
        entries.append(("optimize", "optimize", None, DEFAULT_IN_SPLITS["optimize"]))
    return QualityPlan(entries)


def with_in_split(plan: QualityPlan, split: str) -> QualityPlan:
    """``plan`` with ``split`` as the ``in`` split of every entry of its task family.

    Lets new weights be scored on a shipped model's training scenes (``--in-split
    dp-bundled-20px``), where by default they get their recipe's split.

    Raises:
        BlurmapError: an unknown split, or one no entry of ``plan`` can be scored on.
    """
    if split not in SPLITS:
        raise BlurmapError(f"--in-split: unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    family = SPLITS[split].task
    if not any(_family(task) == family for _, task, _, _ in plan.entries):
        raise BlurmapError(f"--in-split: {split} holds {family} scenes, and no model scored here works on them")
    return QualityPlan([(label, task, w, split if _family(task) == family else own) for label, task, w, own in plan.entries])


def _family(task: str) -> str:
    """``dp`` or ``local``: the kind of scenes a task is scored on (from its shifted split)."""
    return SPLITS[SHIFTED_SPLITS[task]].task


def quality_rows(plan: QualityPlan, *, count: int = 12, quick: bool = False, splits=("in", "shifted"),
                 on_progress: Callable[[str], None] | None = None) -> list[dict]:
    """Score every entry of ``plan`` on its splits.

    Args:
        plan: :func:`plan_models`' result.
        count: scenes per split (quick mode: at most 2, at small sizes).
        quick: small scenes and few of them (for tests).
        splits: ``"in"`` and / or ``"shifted"``.
        on_progress: called with a line before each split / model.
    Returns:
        rows ``{"model", "task", "split", "split_name", "metric", "value", ...}``; defocus rows
        carry the bin columns of :func:`score_defocus`.
    """
    from blurmap.api import estimate_defocus_map, load_model
    from blurmap.metrics import LPIPS

    count = min(count, 2) if quick else count
    if count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    say = on_progress or (lambda line: None)
    cache: dict[str, list[dict]] = {}

    def scenes(name: str) -> list[dict]:
        if name not in cache:
            say(f"rendering split {name} ({count} scenes)")
            cache[name] = SPLITS[name].make(count, quick)
        return cache[name]

    lpips = None
    rows = []
    for label, task, weights, in_split in plan.entries:
        for which in splits:
            split = in_split if which == "in" else SHIFTED_SPLITS[task]
            data = scenes(split)
            say(f"scoring {label} on {split}")
            base = {"model": label, "task": task, "split": which, "split_name": split}
            if task == "defocus":
                lpips = lpips or LPIPS("alex")
                model = load_model(weights)
                for r in score_defocus(model, data, lpips):
                    rows.append({**base, **r})
            elif task in ("defocus-map", "optimize"):
                fit_kwargs = {"steps": 40 if quick else 150} if task == "optimize" else {"weights": weights}

                def est(left, right, kw=fit_kwargs):
                    return estimate_defocus_map(left, right, **kw)
                rows.append({**base, **score_maps(est, data)})
            else:
                rows.append({**base, **score_local(load_model(weights), data)})
    return rows


def _f(key: str, fmt: str = ".2f"):
    def cell(row: dict) -> str:
        v = row.get(key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(v, fmt) if not (isinstance(v, float) and math.isinf(v)) else "inf"
    return cell


QUALITY_COLUMNS = {
    "defocus": [Column("model", "model", align="<"), Column("split", "split", align="<"),
                Column("bin", "|CoC| bin", align="<"), Column("psnr_in", "PSNR in", _f("psnr_in")),
                Column("psnr_out", "PSNR out", _f("psnr_out")), Column("psnr_gain", "gain dB", _f("psnr_gain", "+.2f")),
                Column("ssim_in", "SSIM in", _f("ssim_in", ".3f")), Column("ssim_out", "SSIM out", _f("ssim_out", ".3f")),
                Column("lpips_in", "LPIPS in", _f("lpips_in", ".3f")), Column("lpips_out", "LPIPS out", _f("lpips_out", ".3f"))],
    "map": [Column("model", "method", align="<"), Column("split", "split", align="<"),
            Column("mae_textured", "MAE |CoC| px", _f("mae_textured")),
            Column("sign_accuracy", "sign ok", _f("sign_accuracy", ".1%"))]
    + [Column(f"bias_{lo:g}", f"bias {lo:g}-{min(hi, 25):g}", (lambda r, k=f"{lo:g}-{min(hi, 25):g}":
                                                               _f("v", "+.2f")({"v": r.get("bias", {}).get(k)})))
       for lo, hi in BIAS_BINS],
    "local": [Column("model", "model", align="<"), Column("split", "split", align="<"),
              Column("iou", "LBP IoU", _f("iou", ".3f")), Column("static_marked", "static marked", _f("static_marked", ".2%")),
              Column("masked_psnr_gain", "masked gain dB", _f("masked_psnr_gain", "+.2f")),
              Column("static_psnr", "static PSNR", _f("static_psnr")),
              Column("full_psnr_gain", "full gain dB", _f("full_psnr_gain", "+.2f")),
              Column("worst_full_psnr_gain", "worst full", _f("worst_full_psnr_gain", "+.2f"))],
}


def quality_tables(rows: list[dict]) -> str:
    """The rows as up to three plain-text tables (defocus deblurring, maps, local blur)."""
    from blurmap.bench.table import format_table

    groups = {"defocus": [r for r in rows if r["task"] == "defocus"],
              "map": [r for r in rows if r["task"] in ("defocus-map", "optimize")],
              "local": [r for r in rows if r["task"] == "local"]}
    titles = {"defocus": "Defocus deblurring: PSNR / SSIM against the all-in-focus image, pooled per |CoC| bin",
              "map": "Defocus maps: |CoC| error on textured pixels, bias (|est| - |true|) per |CoC| bin, px",
              "local": "Local motion blur: LBP mask and BladeNet restoration"}
    parts = []
    for key, group in groups.items():
        if group:
            splits = sorted({f"{r['split']} = {r['split_name']}: {SPLITS[r['split_name']].about}" for r in group})
            parts.append(format_table(group, QUALITY_COLUMNS[key], notes=[titles[key], *splits]))
    return "\n\n".join(parts)
