"""The layered, occlusion-aware reblur operator (eq. 4 split into CoC layers)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve

from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import dp_kernel_stack
from blurmap.physics.layered import layered_defocus_blur


@pytest.fixture(scope="module")
def stack():
    return dp_kernel_stack(6).float()


def test_constant_map_is_one_convolution(stack):
    torch.manual_seed(0)
    img = torch.rand(1, 3, 24, 30)
    coc = torch.full((1, 1, 24, 30), 3.0)
    out = layered_defocus_blur(img, coc, stack, "left")
    # independent reference: scipy convolution with the radius-3 left kernel, mirrored borders
    k = stack[3].double().numpy()
    ref = np.stack([convolve(img[0, ch].double().numpy(), k, mode="mirror") for ch in range(3)])
    np.testing.assert_allclose(out[0].double().numpy(), ref, atol=2e-5)
    np.testing.assert_allclose(out.numpy(), defocus_blur(img, coc, stack, "left").numpy(), atol=2e-5)


def _half_split(w=32, left_coc=0.0, right_coc=4.0):
    coc = torch.full((1, 1, 16, w), right_coc)
    coc[..., : w // 2] = left_coc
    img = torch.zeros(1, 3, 16, w)
    img[..., : w // 2] = 1.0
    return img, coc


def test_a_blurred_background_does_not_bleed_into_a_sharp_foreground_edge(stack):
    # left: white, in focus (CoC 0); right: black, behind the focal plane (CoC +4)
    img, coc = _half_split(left_coc=0.0, right_coc=4.0)
    lay = layered_defocus_blur(img, coc, stack, "combined")
    interp = defocus_blur(img, coc, stack, "combined")
    bg = slice(16, 20)  # background pixels next to the edge
    assert lay[..., bg].max().item() < 1e-4  # the background layer holds only black
    assert interp[..., bg].max().item() > 0.05  # interpolation mixes the white in
    np.testing.assert_allclose(lay[..., :16].numpy(), 1.0, atol=1e-4)  # sharp side stays sharp


def test_a_blurred_foreground_spills_over_a_sharp_background(stack):
    # left: white, in front of the focal plane (CoC -4); right: black, in focus
    img, coc = _half_split(left_coc=-4.0, right_coc=0.0)
    lay = layered_defocus_blur(img, coc, stack, "combined")
    interp = defocus_blur(img, coc, stack, "combined")
    bg = slice(16, 19)
    assert lay[..., bg].min().item() > 0.05  # the near layer's blur covers the sharp pixels
    assert interp[..., bg].max().item() < 1e-4  # interpolation cannot spread it


def test_gradients_reach_image_map_and_kernels(stack):
    torch.manual_seed(1)
    img = torch.rand(1, 3, 12, 14, requires_grad=True)
    coc = (torch.rand(1, 1, 12, 14) * 6 - 3).requires_grad_(True)
    kern = stack.clone().requires_grad_(True)
    layered_defocus_blur(img, coc, kern, "left").square().mean().backward()
    for t in (img, coc, kern):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_shape_errors():
    with pytest.raises(ValueError):
        layered_defocus_blur(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 9), dp_kernel_stack(2))
