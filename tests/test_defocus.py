"""Spatially varying defocus blur, DP rendering and thin-lens CoC (blurmap.physics.defocus)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data
from skimage.registration import phase_cross_correlation

from blurmap.physics.crf import linear_to_srgb, srgb_to_linear
from blurmap.physics.defocus import coc_from_depth, defocus_blur, fft_conv_stack, render_dual_pixel
from blurmap.physics.kernels import DPKernelBank, dp_kernel_stack, dp_kernels


def _conv_reference(image, kernel):
    """True convolution with reflect padding via F.conv2d (a correlation, so flip the PSF)."""
    b, c, h, w = image.shape
    p = kernel.shape[-1] // 2
    x = F.pad(image, (p, p, p, p), mode="reflect").reshape(b * c, 1, h + 2 * p, w + 2 * p)
    return F.conv2d(x, kernel.flip(-1, -2)[None, None].to(image)).reshape(b, c, h, w)


@pytest.fixture(scope="module")
def photo():
    img = data.astronaut()[100:196:2, 150:262:2].astype(np.float32) / 255.0  # 48 x 56
    return torch.from_numpy(img).permute(2, 0, 1)[None]


def test_fft_conv_stack_matches_conv2d():
    x = torch.rand(2, 3, 19, 23, dtype=torch.float64)
    k = torch.rand(3, 7, 7, dtype=torch.float64)
    out = fft_conv_stack(x, k)
    for s in range(3):
        torch.testing.assert_close(out[:, s], _conv_reference(x, k[s]))


@pytest.mark.parametrize("value,view", [(3.0, "left"), (5.0, "right"), (-4.0, "left"), (2.5, "combined")])
def test_constant_map_is_plain_convolution(photo, value, view):
    bank = DPKernelBank(max_radius=6)
    coc = torch.full((1, 1, *photo.shape[-2:]), value)
    out = defocus_blur(photo, coc, bank, view)
    left, right = dp_kernels(value, size=bank.size)
    kernel = {"left": left, "right": right, "combined": (left + right) / 2}[view]
    torch.testing.assert_close(out, _conv_reference(photo, kernel), atol=1e-5, rtol=0)


def test_zero_map_is_identity(photo):
    out = defocus_blur(photo, torch.zeros(1, 1, *photo.shape[-2:]), DPKernelBank(4), "left")
    torch.testing.assert_close(out, photo, atol=1e-5, rtol=0)


def test_per_pixel_interpolation_between_radii(photo):
    """A two-valued map: each pixel equals the blur of its own radius (same as a constant map)."""
    stack = dp_kernel_stack(5)
    coc = torch.full((1, 1, *photo.shape[-2:]), 1.5)
    coc[..., :, 28:] = -3.25
    out = defocus_blur(photo, coc, stack, "left")
    ref_a = _conv_reference(photo, (stack[1] + stack[2]) / 2)
    ref_b = _conv_reference(photo, 0.75 * stack[3].flip(-1) + 0.25 * stack[4].flip(-1))
    torch.testing.assert_close(out[..., :28], ref_a[..., :28], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 28:], ref_b[..., 28:], atol=1e-5, rtol=0)


def test_gradcheck_image_map_and_kernels():
    torch.manual_seed(1)
    image = torch.rand(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    # fractional values away from the integer kinks of the linear interpolation
    coc = (torch.rand(1, 1, 5, 6, dtype=torch.float64) * 0.6 + 0.2)
    coc = (coc * torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, 1.0], dtype=torch.float64)).requires_grad_()
    kernels = dp_kernel_stack(1).to(torch.float64)
    kernels = (kernels + 0.01 * torch.rand_like(kernels)).requires_grad_()
    for view in ("left", "combined"):
        assert torch.autograd.gradcheck(lambda i, c, k, v=view: defocus_blur(i, c, k, v), (image, coc, kernels))


def test_gradients_reach_bank_parameters(photo):
    bank = DPKernelBank(max_radius=3)
    coc = torch.full((1, 1, *photo.shape[-2:]), 2.3, requires_grad=True)
    defocus_blur(photo, coc, bank, "right").square().mean().backward()
    assert float(bank.weight.grad[2:4].abs().sum()) > 0
    assert float(coc.grad.abs().sum()) > 0


def test_bad_shapes(photo):
    with pytest.raises(ValueError):
        defocus_blur(photo, torch.zeros(1, 1, 5, 5), DPKernelBank(2))
    with pytest.raises(ValueError):
        defocus_blur(photo, torch.zeros(1, 2, *photo.shape[-2:]), DPKernelBank(2))


# ----------------------------------------------------------------------------- rendering


def test_in_focus_pixels_equal_aif(photo):
    h, w = photo.shape[-2:]
    coc = torch.full((1, 1, h, w), 0.3)
    coc[..., :, 30:] = 6.0  # behind the focal plane: its blur never covers the in-focus part
    coc[..., :, :4] = -0.45
    left, right, comb = render_dual_pixel(photo, coc)
    sharp = (coc.abs() < 0.5).expand_as(photo)
    torch.testing.assert_close(left[sharp], photo[sharp], atol=2e-5, rtol=0)
    torch.testing.assert_close(right[sharp], photo[sharp], atol=2e-5, rtol=0)
    assert float((left - photo).abs()[..., 36:].mean()) > 0.01  # and the far part is blurred

    coc[..., :, 30:] = -6.0  # in front: the blur spills over the in-focus region's edge
    left, _, _ = render_dual_pixel(photo, coc)
    torch.testing.assert_close(left[..., :20], photo[..., :20], atol=2e-5, rtol=0)
    assert float((left - photo).abs()[..., 25:30].mean()) > 1e-3


def test_combined_is_mean_in_linear_light_and_shapes(photo):
    """The full pixel sums its two photodiodes: C is the mean of L and R in linear light."""
    coc = torch.linspace(-8, 8, photo.shape[-1]).expand(1, 1, *photo.shape[-2:]).contiguous()
    left, right, comb = render_dual_pixel(photo.repeat(2, 1, 1, 1), coc.repeat(2, 1, 1, 1))
    assert left.shape == right.shape == comb.shape == (2, 3, *photo.shape[-2:])
    mean_lin = (left.double() ** 2.2 + right.double() ** 2.2) / 2
    torch.testing.assert_close(comb.double() ** 2.2, mean_lin, atol=2e-6, rtol=0)
    # ... which is not the mean of the encoded values where the views differ
    assert float((comb - (left + right) / 2).abs().max()) > 1e-3
    assert float(left.min()) >= 0 and float(left.max()) <= 1


def test_constant_plane_equals_linear_light_blur(photo):
    """A fronto-parallel plane rendered exactly (max_downsample=1) is one PSF in linear light."""
    coc = torch.full((1, 1, *photo.shape[-2:]), -4.4)
    left, right, _ = render_dual_pixel(photo, coc, max_downsample=1)
    stack = dp_kernel_stack(5)
    ref_l = linear_to_srgb(defocus_blur(srgb_to_linear(photo), coc, stack, "left"))
    ref_r = linear_to_srgb(defocus_blur(srgb_to_linear(photo), coc, stack, "right"))
    torch.testing.assert_close(left, ref_l, atol=2e-3, rtol=0)
    torch.testing.assert_close(right, ref_r, atol=2e-3, rtol=0)


def _horizontal_shift(left: np.ndarray, right: np.ndarray, max_shift: int = 12) -> float:
    """Displacement of ``right`` relative to ``left`` along x, by SSD block matching with a
    parabolic sub-pixel fit. (Whitened phase correlation is unreliable here: the DP PSFs are
    not pure translations, and whitening weights the frequencies the blur has removed.)"""
    m = max_shift
    ref = left[m:-m, m:-m]
    ssd = np.array([((ref - right[m:-m, m + d : right.shape[1] - m + d]) ** 2).mean() for d in range(-m, m + 1)])
    i = int(np.argmin(ssd))
    assert 0 < i < 2 * m, "shift at the edge of the search range"
    a, b, c = ssd[i - 1], ssd[i], ssd[i + 1]
    return i - m + 0.5 * (a - c) / (a - 2 * b + c)


def test_dp_shift_has_sign_of_coc_and_grows():
    img = data.camera()[::2, ::2].astype(np.float32)[64:192, 64:192] / 255.0
    aif = torch.from_numpy(img)[None, None].repeat(1, 3, 1, 1)
    shifts = {}
    for c in (-10.0, -4.0, 4.0, 10.0):
        left, right, _ = render_dual_pixel(aif, torch.full((1, 1, 128, 128), c))
        shifts[c] = _horizontal_shift(left[0, 0].numpy(), right[0, 0].numpy())
        assert abs(shifts[c]) > 1.0
    assert shifts[4.0] > 0 and shifts[10.0] > shifts[4.0] + 2
    assert shifts[-4.0] < 0 and shifts[-10.0] < shifts[-4.0] - 2
    # phase correlation agrees on the sign where the shift is largest
    shift, _, _ = phase_cross_correlation(
        *(v[0, 0].numpy() for v in render_dual_pixel(aif, torch.full((1, 1, 128, 128), 4.0))[:2]),
        upsample_factor=10,
        normalization=None,
    )
    assert -shift[1] > 0


def test_noise_is_seeded(photo):
    coc = torch.full((1, 1, *photo.shape[-2:]), 2.0)
    a = render_dual_pixel(photo, coc, noise=(1e-3, 1e-5), generator=torch.Generator().manual_seed(3))
    b = render_dual_pixel(photo, coc, noise=(1e-3, 1e-5), generator=torch.Generator().manual_seed(3))
    clean = render_dual_pixel(photo, coc)
    torch.testing.assert_close(a[0], b[0])
    assert 1e-3 < float((a[0] - clean[0]).abs().mean()) < 0.05


def test_coc_from_depth_thin_lens():
    # f = 50 mm, N = 2, focused at 2 m, 5 um pixels; hand computation for d = 4 m:
    # A = 25 mm; diameter = 25e-3 * 50e-3 / 1.95 * (2 / 4) = 3.2051e-4 m -> radius 32.05 px
    d = torch.tensor([1.0, 2.0, 4.0])
    c = coc_from_depth(d, focus=2.0, f_number=2.0, focal_length=0.05, pixel_pitch=5e-6)
    assert abs(float(c[2]) - 32.0513) < 1e-3
    assert float(c[1]) == 0.0
    assert abs(float(c[0]) + 64.1026) < 1e-3  # in front: negative, twice as large at d = S/2
    with pytest.raises(ValueError):
        coc_from_depth(d, focus=0.01, f_number=2.0, focal_length=0.05, pixel_pitch=5e-6)
