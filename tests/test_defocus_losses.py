"""Reblur and dual-pixel consistency losses (blurmap.losses.reblur)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from blurmap.losses.reblur import (
    ReblurLoss,
    curvature_prior,
    downscale,
    dp_consistency_loss,
    gradient_prior,
    reblur_loss,
)
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import DPKernelBank, dp_kernel_stack, kernels_at_scale


@pytest.fixture(scope="module")
def scene():
    img = torch.from_numpy(data.astronaut()[100:164, 150:214].astype(np.float32) / 255).permute(2, 0, 1)[None]
    coc = torch.linspace(-4.5, 3.5, 64).expand(1, 1, 64, 64).contiguous()
    stack = dp_kernel_stack(6)
    left = defocus_blur(img, coc, stack, "left")
    right = defocus_blur(img, coc, stack, "right")
    return img, coc, stack, left, right


def test_gradient_prior_hand_computed():
    m = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])[None, None]
    # |dx| mean over 4 differences: (1 + 2 + 0 + 0) / 4; |dy| mean over 3: (2 + 1 + 1) / 3
    assert abs(float(gradient_prior(m)) - (3 / 4 + 4 / 3)) < 1e-6


def test_curvature_prior_hand_computed_and_zero_on_planes():
    # one row 0 0 1 0 0: second differences 1, -2, 1 -> mean 4/3; the 1-px column adds nothing
    spike = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 5)
    assert abs(float(curvature_prior(spike)) - 4 / 3) < 1e-6
    yy, xx = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    plane = (2.5 * xx - 1.5 * yy + 3)[None, None]
    assert float(curvature_prior(plane)) < 1e-5 and float(gradient_prior(plane)) > 3.9


def test_reblur_loss_zero_at_truth_and_positive_elsewhere(scene):
    img, coc, stack, left, right = scene
    total, parts = reblur_loss(img, coc, {"left": left, "right": right}, stack, lam=0.0)
    assert float(total) < 1e-5
    wrong, _ = reblur_loss(img, -coc, {"left": left, "right": right}, stack, lam=0.0)
    assert float(wrong) > 1e-3  # the sign is visible in the single views
    combined = (left + right) / 2
    same, _ = reblur_loss(img, -coc, {"combined": combined}, stack, lam=0.0)
    assert float(same) < 1e-5  # ... and invisible in the combined view
    total, parts = reblur_loss(img, coc, {"left": left}, stack, lam=0.5)
    torch.testing.assert_close(total, parts["gem"] + 0.5 * gradient_prior(coc))


def test_consistency_zero_at_truth_and_prefers_right_sign(scene):
    img, coc, stack, left, right = scene
    # exact for a constant map away from the borders (reflection does not commute with
    # blur there): left (*) K_R = I (*) K_L (*) K_R = right (*) K_L
    c = torch.full_like(coc, -3.3)
    lc, rc = defocus_blur(img, c, stack, "left"), defocus_blur(img, c, stack, "right")
    assert float(dp_consistency_loss(lc, rc, c, stack, reduce=False)[..., 12:-12, 12:-12].max()) < 1e-5
    assert float(dp_consistency_loss(lc, rc, -c, stack)) > 1e-3
    # a spatially varying blur does not commute exactly, but the truth still wins clearly
    truth = float(dp_consistency_loss(left, right, coc, stack))
    assert truth < 0.5 * float(dp_consistency_loss(left, right, -coc, stack))
    assert truth < 0.5 * float(dp_consistency_loss(left, right, coc + 2, stack))
    per_px = dp_consistency_loss(left, right, coc, stack, reduce=False)
    assert per_px.shape == (1, 1, 64, 64)


def test_coarse_scale_is_the_downscaled_loss(scene):
    img, coc, stack, left, right = scene
    loss = dp_consistency_loss(left, right, coc + 1, stack, scale=2)
    coarse = kernels_at_scale(stack, 2)
    l2, r2, c2 = downscale(left, 2), downscale(right, 2), F.avg_pool2d(coc + 1, 2) / 2
    ref = (defocus_blur(l2, c2, coarse, "right") - defocus_blur(r2, c2, coarse, "left")).abs().mean()
    torch.testing.assert_close(loss, ref)
    assert kernels_at_scale(stack, 2).shape[0] == 4  # radii 0, 2, 4, 6 px -> 0..3 coarse px
    torch.testing.assert_close(kernels_at_scale(stack, 2).sum((-2, -1)), torch.ones(4))


def test_module_gradients_reach_kernels(scene):
    img, coc, _, left, right = scene
    loss_fn = ReblurLoss(max_radius=6)
    total, _ = loss_fn(img, coc, {"left": left, "right": right})
    total.backward()
    assert float(loss_fn.bank.weight.grad.abs().sum()) > 0


@pytest.mark.slow
def test_gaussian_kernels_learn_toward_butterworth():
    """Acceptance: Gaussian-initialised kernels trained by the reblur loss on data rendered with
    Butterworth DP kernels move toward them (L1 distance at least halves)."""
    torch.manual_seed(0)
    img = torch.from_numpy(data.astronaut()[120:168, 160:208].astype(np.float32) / 255).permute(2, 0, 1)[None]
    coc = torch.linspace(-3, 3, 48).expand(1, 1, 48, 48).contiguous()
    true = DPKernelBank(3, kind="butterworth", learnable=False)
    with torch.no_grad():
        views = {v: defocus_blur(img, coc, true, v) for v in ("left", "right")}
    learn = DPKernelBank(3, kind="gaussian")
    opt = torch.optim.Adam(learn.parameters(), lr=5e-3)
    with torch.no_grad():
        before = float((learn.kernels() - true.kernels()).abs().sum())
    for _ in range(80):
        loss, _ = reblur_loss(img, coc, views, learn, lam=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float((learn.kernels() - true.kernels()).abs().sum())
    assert after <= 0.5 * before, (before, after)
