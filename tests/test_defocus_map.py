"""DefocusMapNet, the learnable-kernel model and per-pair optimisation (blurmap.models.defocus_map)."""

import numpy as np
import pytest
import torch
from skimage import data

from blurmap.fit import optimize_defocus_map
from blurmap.metrics import texture_mask
from blurmap.models import build_model
from blurmap.models.defocus_map import DefocusMapNet, LearnableBlurKernel
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import dp_kernel_stack


def test_net_any_size_bounded_and_starts_in_focus():
    net = build_model("defocus_map_net", channels=8, levels=2, blocks=1, max_coc=25.0)
    assert isinstance(net, DefocusMapNet) and net.size_multiple == 4 and net.receptive_field > 20
    x = torch.rand(2, 6, 37, 53)
    out = net(x)
    assert out.shape == (2, 1, 37, 53)
    assert float(out.detach().abs().max()) == 0.0  # zero-initialised head: an in-focus map
    torch.nn.init.normal_(net.head.weight, std=50.0)
    out = net(x).detach()
    assert float(out.abs().max()) <= 25.0 and float(out.abs().max()) > 5.0
    torch.testing.assert_close(net.estimate(x[:, :3], x[:, 3:]), out)
    assert net.predict(x[:, :3], x[:, 3:])["map"].shape == (2, 1, 37, 53)
    with pytest.raises(ValueError):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError):
        net.estimate(x[:, :3], x[:, 3:, :30])


def test_kernel_model_is_registered_and_matches_eq3():
    g = build_model("dp_kernel_bank", max_radius=5)
    assert isinstance(g, LearnableBlurKernel) and g.init_kwargs["max_radius"] == 5
    torch.testing.assert_close(g("left").detach(), dp_kernel_stack(5))


def test_texture_mask_matches_numpy_gradient():
    img = data.camera()[:40, :50].astype(np.float32) / 255
    gy, gx = np.gradient(img)
    ref = np.hypot(gx, gy) > 0.02
    t = torch.from_numpy(img)[None, None].repeat(1, 3, 1, 1)
    np.testing.assert_array_equal(texture_mask(t, 0.02)[0, 0].numpy(), ref)


def test_optimize_recovers_a_tilted_plane():
    img = torch.from_numpy(data.astronaut()[100:196:2, 150:278:2].astype(np.float32) / 255).permute(2, 0, 1)[None]
    h, w = img.shape[-2:]
    coc = torch.linspace(-4.0, 3.0, w).expand(1, 1, h, w).contiguous()
    stack = dp_kernel_stack(25)
    left, right = defocus_blur(img, coc, stack, "left"), defocus_blur(img, coc, stack, "right")
    est = optimize_defocus_map(left, right, steps=60, refine_steps=0, coarse_pixels=2000, lr=0.3)
    assert est.shape == (1, 1, h, w) and est.dtype == torch.float32
    inner = (est - coc)[..., 8:-8, 8:-8].abs()
    assert float(inner.mean()) < 0.6, float(inner.mean())
    with pytest.raises(ValueError):
        optimize_defocus_map(left, right[..., :20])
    with pytest.raises(ValueError, match="curvature"):
        optimize_defocus_map(left, right, curvature=1.5)


def _astronaut_128x160() -> torch.Tensor:
    """``(1, 3, 128, 160)`` float32 in [0, 1]: scikit-image's astronaut, every third pixel."""
    a = data.astronaut()[::3, ::3][:128, :160].astype(np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].contiguous()


def test_optimize_reaches_a_large_blur_on_weak_texture():
    # 14-20 px of blur on a low-contrast photo: the views carry little DP signal, so a descent
    # from "in focus" at the main scale stalls far below the truth (the former defaults:
    # 100 coarse steps at the main stage's step size ended 8.9 px short here); the coarse
    # stages must carry the map most of the way
    img = _astronaut_128x160()
    img = 0.5 + 0.2 * (img - img.mean())
    h, w = img.shape[-2:]
    coc = torch.linspace(14.0, 20.0, w).expand(1, 1, h, w).contiguous()
    stack = dp_kernel_stack(25)
    left, right = defocus_blur(img, coc, stack, "left"), defocus_blur(img, coc, stack, "right")
    err = (optimize_defocus_map(left, right, steps=60) - coc)[..., 16:-16, 16:-16]
    assert float(err.abs().mean()) < 1.5 and abs(float(err.mean())) < 1.0, (float(err.abs().mean()), float(err.mean()))


def test_curvature_prior_carries_a_receding_plane_into_blur_the_views_lost():
    # a ground plane: 18 px of blur at the top, 4 px at the bottom; the top half is a 3 px
    # stripe texture that the blur wipes out of the views, so only the prior can fill it in.
    # The gradient prior flattens the map there; the second differences let the ramp go on
    img = _astronaut_128x160()
    h, w = img.shape[-2:]
    img[:, :, : h // 2] = 0.5 + 0.3 * torch.sin(2 * np.pi * torch.arange(w, dtype=torch.float32) / 3.0)
    yy = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    coc = (18.0 - 14.0 * yy / (h - 1))[None, None].contiguous()
    stack = dp_kernel_stack(25)
    left, right = defocus_blur(img, coc, stack, "left"), defocus_blur(img, coc, stack, "right")
    top, bottom = (..., slice(8, h // 2 - 8), slice(16, -16)), (..., slice(h // 2 + 8, -8), slice(16, -16))
    err = {c: optimize_defocus_map(left, right, steps=60, curvature=c) - coc for c in (0.0, 0.7)}
    assert float(err[0.7][top].abs().mean()) < float(err[0.0][top].abs().mean()) - 0.4
    assert float(err[0.7][bottom].abs().mean()) < 0.3
