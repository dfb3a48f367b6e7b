"""blurmap.metrics: PSNR/SSIM/MAE and masked variants against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blurmap.metrics import (
    evaluate_pair,
    mae,
    masked_psnr,
    masked_ssim,
    psnr,
    quantize,
    ssim,
)


def _pair(bits, shape=(40, 48, 3), seed=0):
    """A ground truth with structure and a noisy, slightly shifted prediction, quantised."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    gt = 0.5 + 0.4 * np.sin(xx[..., None] / 5.0 + np.arange(3)) * np.cos(yy[..., None] / 7.0)
    pred = np.clip(gt + rng.normal(0, 0.05, shape) + 0.01, 0, 1)
    peak = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    gt_i = np.round(gt * peak).astype(dtype)
    pred_i = np.round(pred * peak).astype(dtype)
    # what read_image gives: float32 levels / peak
    return pred_i.astype(np.float32) / peak, gt_i.astype(np.float32) / peak, pred_i, gt_i


@pytest.mark.parametrize("bits", [8, 16])
def test_psnr_ssim_mae_match_independent_references(bits):
    pred, gt, pred_i, gt_i = _pair(bits)
    peak = 2**bits - 1
    # PSNR from the integer images with skimage (data_range = peak): the same number.
    ref_psnr = peak_signal_noise_ratio(gt_i.astype(np.float64), pred_i.astype(np.float64), data_range=peak)
    assert abs(psnr(pred, gt) - ref_psnr) < 1e-6
    # SSIM: per-channel skimage SSIM on the float64 images, averaged by hand.
    p64, g64 = pred_i / peak, gt_i / peak
    per_channel = [structural_similarity(p64[..., c], g64[..., c], data_range=1.0) for c in range(3)]
    assert abs(ssim(pred, gt) - float(np.mean(per_channel))) < 1e-6
    ref_mae = np.abs(pred_i.astype(np.int64) - gt_i.astype(np.int64)).mean() / peak
    assert abs(mae(pred, gt) - ref_mae) < 1e-6
    # quantize() turns the float32 levels back into exact float64 levels: then the numbers
    # agree to rounding error, which is what the CLI scores.
    qp, qg = quantize(pred, bits), quantize(gt, bits)
    assert np.array_equal(qp, p64) and np.array_equal(qg, g64)
    assert abs(psnr(qp, qg) - ref_psnr) < 1e-9 and abs(mae(qp, qg) - ref_mae) < 1e-12


def test_psnr_hand_computed_and_identical_is_inf():
    gt = np.zeros((4, 4, 3))
    pred = gt.copy()
    pred[0, 0, 0] = 0.5  # MSE = 0.25 / 48
    assert psnr(pred, gt) == pytest.approx(10 * math.log10(48 / 0.25), abs=1e-12)
    assert psnr(gt, gt) == math.inf
    assert mae(pred, gt) == pytest.approx(0.5 / 48)


def test_metrics_use_float64():
    """float32 inputs give the float64 answer (the protocol converts before any maths)."""
    pred, gt, _, _ = _pair(16)
    assert psnr(pred, gt) == psnr(pred.astype(np.float64), gt.astype(np.float64))
    assert ssim(pred, gt) == ssim(pred.astype(np.float64), gt.astype(np.float64))


def test_masked_variants_against_direct_numpy():
    pred, gt, _, _ = _pair(16, seed=3)
    rng = np.random.default_rng(4)
    mask = np.zeros(gt.shape[:2])
    mask[10:30, 5:25] = 1.0
    soft = rng.random(gt.shape[:2])
    p, g = pred.astype(np.float64), gt.astype(np.float64)
    for m in (mask, soft):
        mse = np.sum((p - g) ** 2 * m[..., None]) / (m.sum() * 3)
        assert abs(masked_psnr(pred, gt, m) - 10 * np.log10(1 / mse)) < 1e-9
    # binary mask: masked PSNR = PSNR of the masked pixels alone
    sel = mask.astype(bool)
    mse = np.mean((p[sel] - g[sel]) ** 2)
    assert abs(masked_psnr(pred, gt, mask) - 10 * np.log10(1 / mse)) < 1e-9
    # masked SSIM: mean over channels of skimage's full per-channel maps, weighted by the mask
    # inside the 3-px border skimage excludes
    maps = [structural_similarity(p[..., c], g[..., c], data_range=1.0, full=True)[1] for c in range(3)]
    s = np.mean(maps, axis=0)[3:-3, 3:-3]
    for m in (mask, soft):
        mm = m[3:-3, 3:-3]
        assert abs(masked_ssim(pred, gt, m) - np.sum(s * mm) / mm.sum()) < 1e-9
    # all-ones mask reproduces the unmasked metrics
    ones = np.ones(gt.shape[:2])
    assert abs(masked_psnr(pred, gt, ones) - psnr(pred, gt)) < 1e-9
    assert abs(masked_ssim(pred, gt, ones) - ssim(pred, gt)) < 1e-9
    assert math.isnan(masked_psnr(pred, gt, np.zeros(gt.shape[:2])))


def test_quantize_emulates_saving():
    x = np.array([0.0, 0.5, 1 / 255 * 0.49, 1 / 255 * 0.51, 1.2, -0.1])
    q8 = quantize(x, 8)
    assert np.allclose(q8 * 255, [0, 128, 0, 1, 255, 0])
    assert np.array_equal(np.round(quantize(x, 16) * 65535), np.round(np.clip(x, 0, 1) * 65535))
    with pytest.raises(ValueError):
        quantize(x, 12)


def test_evaluate_pair_keys_and_shape_check():
    pred, gt, _, _ = _pair(8)
    res = evaluate_pair(pred, gt)
    assert set(res) == {"psnr", "ssim", "mae"}
    assert res["psnr"] == psnr(pred, gt)
    res = evaluate_pair(pred, gt, mask=np.ones(gt.shape[:2]))
    assert res["masked_psnr"] == pytest.approx(res["psnr"], abs=1e-9)
    with pytest.raises(ValueError, match="shape"):
        psnr(pred[:-1], gt)
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(pred, gt, np.ones((3, 3)))
