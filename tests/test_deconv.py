"""Map-guided non-blind deconvolution (blurmap.deconv)."""

import numpy as np
import pytest
import torch
from skimage import data

from blurmap.deconv import deconvolve
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import dp_kernel_stack


def _psnr(a, b, m=8):
    d = (a - b)[..., m:-m, m:-m] if m else a - b
    return 10 * np.log10(1 / float((d**2).mean()))


@pytest.fixture(scope="module")
def blurred():
    img = torch.from_numpy(data.astronaut()[::4, ::4].astype(np.float32) / 255).permute(2, 0, 1)[None]
    h, w = img.shape[-2:]
    coc = torch.full((1, 1, h, w), 4.0)
    coc[..., :, w // 2 :] = -2.5  # two regions, one in front of the focal plane
    return img, coc, defocus_blur(img, coc, dp_kernel_stack(5), "combined")


@pytest.mark.parametrize("method", ["wiener", "rl", "hyper_laplacian"])
def test_every_method_beats_the_blurred_input(blurred, method):
    img, coc, blur = blurred
    out = deconvolve(blur, coc, method, gamma=None, iterations=15)
    assert out.shape == img.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    w = img.shape[-1]
    for region in (slice(8, w // 2 - 8), slice(w // 2 + 8, w - 8)):
        gain = _psnr(out[..., region], img[..., region], 0) - _psnr(blur[..., region], img[..., region], 0)
        assert gain > 1.0, (method, gain)


def test_zero_map_is_identity(blurred):
    img, _, _ = blurred
    out = deconvolve(img, torch.zeros_like(img[:, :1]), "wiener")
    torch.testing.assert_close(out, img, atol=2e-5, rtol=0)


def test_errors(blurred):
    img, coc, blur = blurred
    with pytest.raises(ValueError, match="method"):
        deconvolve(blur, coc, "magic")
    with pytest.raises(ValueError, match="does not match"):
        deconvolve(blur, coc[..., :10])
