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

from blurmap.metrics.lpips import LPIPS, lpips_distance
from blurmap.metrics.pair import evaluate_pair
from blurmap.metrics.pixel import (
    SSIM_BORDER,
    mae,
    masked_psnr,
    masked_ssim,
    protocol_levels,
    psnr,
    quantize,
    ssim,
    ssim_map,
    to_8bit_like_opencv,
)
from blurmap.metrics.texture import texture_mask

__all__ = [
    "psnr",
    "ssim",
    "mae",
    "masked_psnr",
    "masked_ssim",
    "quantize",
    "to_8bit_like_opencv",
    "protocol_levels",
    "evaluate_pair",
    "LPIPS",
    "lpips_distance",
    "ssim_map",
    "texture_mask",
    "SSIM_BORDER",
]
