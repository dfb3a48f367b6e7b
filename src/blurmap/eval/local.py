"""Local-deblurring evaluation (LODE protocol): full-image, mask-weighted and region metrics.

For every test image the restored output (whole image, no resizing or cropping, as the paper
evaluates) is compared with the sharp ground truth:

- full-image PSNR / SSIM (and LPIPS-Alex when asked),
- mask-weighted PSNR / SSIM over the blurred pixels only (:func:`blurmap.metrics.masked_psnr`
  / :func:`masked_ssim` with the dataset's blur mask); skipped when the data has no masks,
- region metrics (supplementary Table 6):

  * ``regions="flow"``: small- vs large-motion pixels split by the DeepFlow norm, computed
    from the dataset's video frames when it has them (``dataset.flow_pair(i)``, e.g. REDS
    ``train_orig``), else between the blurred and the sharp image;
  * ``regions="mask"``: static (mask < 0.5) vs blurred (mask >= 0.5) pixels of the mask;
  * ``regions=None``: no region split.

The blurred input is scored the same way (``input_*`` keys) so every report shows the gain.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from blurmap.data.local import open_local_dataset
from blurmap.errors import BlurmapError
from blurmap.files import write_text_atomic
from blurmap.models import count_parameters

__all__ = [
    "open_local_dataset",
    "evaluate_local",
    "format_local_report",
    "evaluate_local_task",
    "LOCAL_METRIC_KEYS",
]

LOCAL_METRIC_KEYS = ("psnr", "ssim", "masked_psnr", "masked_ssim")


def _hwc(t: torch.Tensor) -> np.ndarray:
    t = t.detach().float().cpu()
    if t.ndim == 4:
        t = t[0]
    return np.ascontiguousarray(t.numpy().transpose(1, 2, 0).astype(np.float64))


def _score(pred, gt, mask, regions_map, lpips_fn, pred_t, gt_t) -> dict[str, float]:
    from blurmap.eval.regions import region_metrics
    from blurmap.metrics import masked_psnr, masked_ssim, psnr, ssim

    row = {"psnr": float(psnr(pred, gt)), "ssim": float(ssim(pred, gt))}
    if mask is not None:
        if mask.sum() > 0:
            row["masked_psnr"] = float(masked_psnr(pred, gt, mask))
            row["masked_ssim"] = float(masked_ssim(pred, gt, mask))
        else:
            row["masked_psnr"] = row["masked_ssim"] = float("nan")
    if regions_map is not None:
        row.update(region_metrics(pred, gt, regions_map))
    if lpips_fn is not None:
        with torch.no_grad():
            row["lpips"] = float(lpips_fn(pred_t.clamp(0, 1).to(gt_t.device), gt_t)[0])
    return row


@torch.no_grad()
def evaluate_local(
    model,
    dataset,
    *,
    regions: str | None = "flow",
    flow_threshold: float = 1.0,
    lpips: str | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    limit: int | None = None,
    bits: int | None = None,
    predictor=None,
    progress=None,
) -> dict:
    """Evaluate a local deblurring model on a dataset of ``{"blur","sharp"[,"mask"]}`` items.

    Args:
        model: restoration model; ``model.predict(blur)["image"]`` (or ``model(blur)``) is used.
            ``None`` scores the blurred input only.
        dataset: indexable dataset (readers of :mod:`blurmap.data`, ``LocalBlurDataset``...).
        regions: ``"flow"``, ``"mask"`` or ``None`` (see module docstring).
        flow_threshold: small/large-motion split of the flow norm, px.
        lpips: ``"alex"``/``"vgg"`` to add LPIPS (needs the bundled backbone weights), or None.
        device: torch device for the model.
        precision: ``"fp32"`` or ``"bf16"`` (autocast) for the forward pass.
        limit: evaluate only the first ``limit`` items.
        bits: 8 or 16 to round the output to that bit depth before scoring (as if saved);
            None scores the float output.
        predictor: optional callable ``(1,3,H,W) tensor -> (1,3,H,W) image`` used instead of
            ``model`` (e.g. a tiled :class:`blurmap.infer.Deblurrer`).
        progress: optional callable ``progress(i, n, name)``.

    Returns:
        ``{"rows": [per-image dict with "name", metrics and "input_*" metrics],
        "mean": {metric: mean over images (NaNs skipped)}, "count": n, "regions": regions,
        "flow_source": "video"|"blur-sharp"|None, "has_mask": bool}``.

    Raises:
        BlurmapError: ``regions="mask"`` on data without masks, or an empty dataset.
    """
    from blurmap.eval.regions import deepflow, flow_norm, mask_regions, motion_regions

    if regions not in (None, "flow", "mask"):
        raise BlurmapError(f"--regions must be 'mask' or 'flow', got {regions!r}")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise BlurmapError("evaluation dataset is empty")
    device = torch.device(device)
    lpips_fn = None
    if lpips:
        from blurmap.metrics import LPIPS

        lpips_fn = LPIPS(net=lpips).to(device).eval()
    if model is not None:
        model = model.to(device).eval()
    rows = []
    flow_sources = set()
    has_mask = True
    for i in range(n):
        item = dataset[i]
        name = item.get("name", str(i))
        if progress is not None:
            progress(i, n, name)
        blur_t = item["blur"].unsqueeze(0).to(device)
        sharp_t = item["sharp"].unsqueeze(0).to(device)
        mask = item.get("mask")
        mask_np = None if mask is None else mask[0].float().cpu().numpy().astype(np.float64)
        has_mask = has_mask and mask_np is not None
        if predictor is not None:
            out_t = predictor(blur_t).float().clamp(0, 1)
        elif model is None:
            out_t = blur_t
        else:
            ctx = (
                torch.autocast(device.type, dtype=torch.bfloat16)
                if precision == "bf16"
                else torch.autocast(device.type, enabled=False)
            )
            with ctx:
                out = model.predict(blur_t) if hasattr(model, "predict") else {"image": model(blur_t)}
            out_t = out["image"].float().clamp(0, 1)
        if bits is not None:
            from blurmap.metrics import quantize

            out_t = torch.from_numpy(quantize(out_t.cpu().numpy(), bits)).float()
        pred, gt, blur = _hwc(out_t), _hwc(sharp_t), _hwc(blur_t)
        region_map = None
        if regions == "mask":
            if mask_np is None:
                raise BlurmapError(f"{name}: --regions mask needs blur masks, this data has none")
            static, blurred = mask_regions(mask_np)
            region_map = {"static": static, "blurred": blurred}
        elif regions == "flow":
            pair = dataset.flow_pair(i) if hasattr(dataset, "flow_pair") else None
            if pair is not None:
                flow = deepflow(_hwc(pair[0]), _hwc(pair[1]))
                flow_sources.add("video")
            else:
                flow = deepflow(blur, gt)
                flow_sources.add("blur-sharp")
            small, large = motion_regions(flow_norm(flow), flow_threshold)
            region_map = {"small": small, "large": large}
        row = {"name": name}
        row.update(_score(pred, gt, mask_np, region_map, lpips_fn, out_t, sharp_t))
        base = _score(blur, gt, mask_np, region_map, lpips_fn, blur_t, sharp_t)
        row.update({f"input_{k}": v for k, v in base.items() if not k.endswith("_fraction")})
        rows.append(row)
    keys = [k for k in rows[0] if k != "name"]
    mean = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r and not math.isnan(r[k])]
        mean[k] = float(np.mean(vals)) if vals else float("nan")
    return {
        "rows": rows,
        "mean": mean,
        "count": n,
        "regions": regions,
        "flow_source": "+".join(sorted(flow_sources)) or None,
        "has_mask": has_mask,
        "flow_threshold": flow_threshold,
        "lpips_net": lpips,
    }


def format_local_report(result: dict) -> str:
    """A plain-text table of :func:`evaluate_local` means: model vs blurred input."""
    mean = result["mean"]
    lines = [f"images: {result['count']}"]
    if result.get("lpips_net"):
        lines.append(f"LPIPS backbone: {result['lpips_net']}")
    if result.get("regions") == "flow":
        lines.append(
            f"regions: optical-flow norm (DeepFlow, {result['flow_source']}), "
            f"small < {result['flow_threshold']:g} px <= large"
        )
    elif result.get("regions") == "mask":
        lines.append("regions: blur mask (static < 0.5 <= blurred)")
    lines.append(f"{'metric':<22}{'output':>10}{'input':>10}{'gain':>10}")
    for k, v, base, digits in _metric_rows(mean):
        lines.append(f"{k:<22}{v:>10.{digits}f}{base:>10.{digits}f}{v - base:>+10.{digits}f}")
    for k, v in _fraction_rows(mean):
        lines.append(f"{k:<22}{v:>10.4f}")
    if not result.get("has_mask"):
        lines.append("mask-weighted metrics: n/a (the data has no blur masks)")
    return "\n".join(lines)


def _metric_rows(mean: dict):
    """(name, output value, blurred-input value, decimals) for each metric of the report."""
    for k, v in mean.items():
        if k.startswith("input_") or k.endswith("_fraction"):
            continue
        yield k, v, mean.get(f"input_{k}", float("nan")), (2 if "psnr" in k else 4)


def _fraction_rows(mean: dict):
    """(name, value) of the region-size fractions."""
    return [(k, v) for k, v in mean.items() if k.endswith("_fraction")]


def _markdown(result: dict) -> str:
    mean = result["mean"]
    lines = ["| metric | output | blurred input | gain |", "|---|---:|---:|---:|"]
    for k, v, base, d in _metric_rows(mean):
        lines.append(f"| {k} | {v:.{d}f} | {base:.{d}f} | {v - base:+.{d}f} |")
    for k, v in _fraction_rows(mean):
        lines.append(f"| {k} | {v:.4f} | | |")
    notes = []
    if result.get("regions") == "flow":
        notes.append(
            f"Regions: DeepFlow norm ({result['flow_source']}), small < {result['flow_threshold']:g} px <= large."
        )
    elif result.get("regions") == "mask":
        notes.append("Regions: blur mask, static < 0.5 <= blurred.")
    if not result.get("has_mask"):
        notes.append("Mask-weighted metrics: n/a (the data has no blur masks).")
    return "\n".join(lines) + "\n" + "".join(n + "\n" for n in notes)


def evaluate_local_task(
    data,
    weights,
    *,
    split: str = "test",
    bits: int = 8,
    lpips: str | None = "alex",
    out=None,
    device: str = "cpu",
    precision: str = "fp32",
    tile: int | None = None,
    regions: str | None = "flow",
    flow_threshold: float = 1.0,
    progress=None,
    **_ignored,
) -> dict:
    """``blurmap eval --task local``: load weights, evaluate, return the report dict.

    Args:
        data: dataset root (paired / REDS / ReLoBlur layout, see :func:`open_local_dataset`).
        weights: BladeNet weights file (or a shipped name).
        split, bits, lpips (``"none"`` = skip), device, precision: as ``blurmap eval``.
        out: folder for ``local_eval.json`` and ``local_eval.md`` (not overwritten).
        tile: tile size for tiled inference; None = whole images (the paper's protocol).
        regions: ``"flow"``, ``"mask"`` or None (see :func:`evaluate_local`).
        progress: ``progress(name)`` callback.

    Returns:
        dict with ``"table"`` (Markdown), ``"params"``, ``"count"``, ``"model"``, ``"result"``.
    """
    import json

    from blurmap.eval.runner import load_for_eval

    if bits not in (8, 16):
        raise BlurmapError(f"--bits must be 8 or 16, got {bits}")
    if regions == "none":
        regions = None
    lp = None if (lpips is None or str(lpips).lower() == "none") else lpips
    deblurrer = load_for_eval(weights, device=device, precision=precision)
    net = deblurrer.model
    dataset = open_local_dataset(data, split)
    predictor = None
    if tile is not None:
        predictor = lambda x: deblurrer.deblur(x, tile=tile)  # noqa: E731
    res = evaluate_local(
        net, dataset, regions=regions, flow_threshold=flow_threshold, lpips=lp,
        device=device, precision=precision, bits=bits, predictor=predictor,
        progress=(lambda i, n, name: progress(name)) if progress else None,
    )
    table = _markdown(res)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in (("local_eval.json", json.dumps(res, indent=1, default=str)), ("local_eval.md", table)):
            dest = out / name
            if dest.exists():
                raise BlurmapError(f"{dest}: already exists (will not overwrite)")
            write_text_atomic(dest, text, overwrite=False)
    return {
        "table": table,
        "params": count_parameters(net),
        "count": res["count"],
        "model": deblurrer.name,
        "result": res,
    }
