"""Dual-pixel PSFs (blurmap.physics.kernels) against an independent scipy construction."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from blurmap.physics.kernels import (
    DPKernelBank,
    dp_kernel_stack,
    dp_kernels,
    interpolate_kernels,
    natural_size,
)


def _reference_psf(r: int, order=3, beta=0.1, cutoff_factor=2.5) -> np.ndarray:
    """Eq. 3 written out independently: disk x rescaled Butterworth, then Gaussian."""
    k = 2 * r + 1
    y, x = np.indices((k, k)) - r
    d = np.sqrt(x**2 + y**2)
    with np.errstate(divide="ignore", over="ignore"):  # d = 0 at the centre -> B = 0
        bw = 1.0 / (1.0 + (((k - 1) / cutoff_factor) / d) ** (2 * order))
    bw = beta + (1 - beta) * (bw - bw.min()) / (bw.max() - bw.min())
    psf = np.where(d <= r, bw, 0.0)
    g = int(round(k / 7))
    g = g + 1 if g % 2 == 0 else g
    if g > 1:
        sigma = 0.3 * ((g - 1) * 0.5 - 1) + 0.8
        t = np.arange(g) - g // 2
        gk = np.exp(-(t**2) / (2 * sigma**2))
        gk /= gk.sum()
        psf = np.pad(psf, g // 2)
        psf = ndimage.convolve(psf, np.outer(gk, gk), mode="constant")
    return psf


def _reference_left(r: int) -> np.ndarray:
    """The left view: the PSF times a ramp from 1 (left column) to 0 (right column)."""
    psf = _reference_psf(r)
    ramp = np.linspace(1.0, 0.0, psf.shape[1])
    left = psf * ramp[None, :]
    return left / left.sum()


@pytest.mark.parametrize("r", [1, 4, 9, 25])
def test_matches_independent_numpy_construction(r):
    left, right = dp_kernels(r, dtype=torch.float64)
    ref = _reference_left(r)
    assert left.shape == ref.shape == (natural_size(r),) * 2
    np.testing.assert_allclose(left.numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(right.numpy(), ref[:, ::-1], atol=1e-10)


@pytest.mark.parametrize("r", [0, 1, 2.5, 7, 25, -3, -12.25])
def test_sum_to_one_nonnegative_and_mirror(r):
    left, right = dp_kernels(r, dtype=torch.float64)
    assert abs(float(left.sum()) - 1) < 1e-12 and abs(float(right.sum()) - 1) < 1e-12
    assert float(left.min()) >= 0 and float(right.min()) >= 0
    torch.testing.assert_close(right, left.flip(-1))


@pytest.mark.parametrize("r", [1, 3.5, 20])
def test_negative_radius_swaps_views(r):
    lp, rp = dp_kernels(r)
    ln, rn = dp_kernels(-r)
    torch.testing.assert_close(ln, rp)
    torch.testing.assert_close(rn, lp)


def test_zero_radius_is_delta():
    left, right = dp_kernels(0)
    assert left.shape == (1, 1) and float(left) == 1.0 and float(right) == 1.0
    padded, _ = dp_kernels(0, size=5)
    expected = torch.zeros(5, 5)
    expected[2, 2] = 1
    torch.testing.assert_close(padded, expected)


@pytest.mark.parametrize("r", [1, 2, 6, 25])
def test_left_centroid_left_of_centre_and_grows(r):
    left, right = dp_kernels(r, dtype=torch.float64)
    x = torch.arange(left.shape[-1], dtype=torch.float64) - left.shape[-1] // 2
    cl = float((left.sum(0) * x).sum())
    cr = float((right.sum(0) * x).sum())
    assert cl < 0 < cr and abs(cl + cr) < 1e-12
    # y centroid stays on the centre line
    assert abs(float((left.sum(1) * x).sum())) < 1e-12
    if r > 1:
        smaller, _ = dp_kernels(r - 1, dtype=torch.float64)
        xs = torch.arange(smaller.shape[-1], dtype=torch.float64) - smaller.shape[-1] // 2
        assert cl < float((smaller.sum(0) * xs).sum())


def test_combined_is_unsplit_psf():
    left, right = dp_kernels(6, dtype=torch.float64)
    psf = _reference_psf(6)
    np.testing.assert_allclose(((left + right) / 2).numpy(), psf / psf.sum(), atol=1e-12)


def test_fractional_radius_interpolates_neighbours():
    size = natural_size(4)
    l3, r3 = dp_kernels(3, size=size, dtype=torch.float64)
    l4, r4 = dp_kernels(4, size=size, dtype=torch.float64)
    left, right = dp_kernels(3.25, dtype=torch.float64)
    torch.testing.assert_close(left, 0.75 * l3 + 0.25 * l4)
    torch.testing.assert_close(right, 0.75 * r3 + 0.25 * r4)


def test_size_errors():
    with pytest.raises(ValueError):
        dp_kernels(5, size=4)
    with pytest.raises(ValueError):
        dp_kernels(5, size=5)
    with pytest.raises(ValueError):
        dp_kernels(float("nan"))
    with pytest.raises(ValueError):
        dp_kernels(3, kind="box")


def test_gaussian_kind_is_split_gaussian():
    left, right = dp_kernels(6, kind="gaussian", dtype=torch.float64)
    assert abs(float(left.sum()) - 1) < 1e-12
    torch.testing.assert_close(right, left.flip(-1))
    psf = (left + right) / 2
    torch.testing.assert_close(psf, psf.T)  # isotropic -> symmetric under transpose


def test_bank_matches_function_and_interpolates():
    bank = DPKernelBank(max_radius=8)
    k = bank.kernels("left")
    assert k.shape == (9, natural_size(8), natural_size(8))
    torch.testing.assert_close(k, dp_kernel_stack(8))
    for radius in (3, 3.4, -7.25):
        left, right = dp_kernels(radius, size=bank.size)
        torch.testing.assert_close(bank.kernel(radius, "left"), left, atol=1e-6, rtol=0)
        torch.testing.assert_close(bank.kernel(radius, "right"), right, atol=1e-6, rtol=0)
    torch.testing.assert_close(bank.kernels("right"), k.flip(-1))
    torch.testing.assert_close(bank.kernels("combined"), (k + k.flip(-1)) / 2)
    torch.testing.assert_close(interpolate_kernels(k, torch.tensor([2.5]))[0], (k[2] + k[3]) / 2)


def test_bank_keeps_kernels_physical_while_learning():
    bank = DPKernelBank(max_radius=4)
    with torch.no_grad():
        bank.weight.mul_(torch.randn_like(bank.weight))  # negative entries, wrong sums
    k = bank.kernels("left")
    assert float(k.detach().min()) >= 0
    torch.testing.assert_close(k.detach().sum(dim=(-2, -1)), torch.ones(5))
    assert float(k.detach()[0, bank.size // 2, bank.size // 2]) == 1.0  # radius 0 stays a delta
    (k[2] * torch.rand_like(k[2])).sum().backward()
    assert bank.weight.grad is not None and float(bank.weight.grad[2].abs().sum()) > 0
    assert bank.weight.requires_grad and not DPKernelBank(2, learnable=False).weight.requires_grad
