"""blurmap.estimate_defocus_map: per-pair optimisation and DefocusMapNet weights, numpy/torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

import blurmap
from blurmap.errors import BlurmapError, WeightsError
from blurmap.models import build_model
from blurmap.weights import save_weights


def _pair(h=40, w=48):
    img = (data.coffee()[100 : 100 + h, 200 : 200 + w] / 255.0).astype(np.float32)
    return img, np.roll(img, 1, axis=1)  # a 1-px disparity between the views


def test_optimisation_is_the_defocus_map_helpers_optimizer():
    from blurmap.fit import optimize_defocus_map

    left, right = _pair()
    fast = {"steps": 6, "max_coc": 4.0}  # small kernels keep the test quick
    got = blurmap.estimate_defocus_map(left, right, **fast)
    lt = torch.from_numpy(left).permute(2, 0, 1)[None]
    rt = torch.from_numpy(right).permute(2, 0, 1)[None]
    ref = optimize_defocus_map(lt, rt, **fast)
    assert got.shape == (40, 48) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref[0, 0].numpy(), atol=1e-6)
    tgot = blurmap.estimate_defocus_map(lt, rt, **fast)
    assert tgot.shape == (1, 1, 40, 48)
    np.testing.assert_allclose(tgot[0, 0].numpy(), got, atol=1e-6)


def test_network_weights_tiled_and_refused(tmp_path):
    cfg = {"channels": 4, "levels": 2, "blocks": 1}
    net = build_model("defocus_map_net", **cfg).eval()
    torch.nn.init.normal_(net.head.weight, std=0.1)  # the head starts at zero: make the output vary
    path = save_weights(tmp_path / "dmap.safetensors", net, "defocus_map_net", cfg)
    left, right = _pair(36, 52)
    got = blurmap.estimate_defocus_map(left, right, weights=path)
    lt = torch.from_numpy(left).permute(2, 0, 1)[None]
    rt = torch.from_numpy(right).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref = net.estimate(lt, rt)[0, 0].numpy()
    assert got.shape == (36, 52) and np.abs(ref).max() > 1e-3
    np.testing.assert_allclose(got, ref, atol=1e-5)  # fits in one tile: same as the network
    blade = save_weights(tmp_path / "b.safetensors", build_model("tiny_unet", channels=2), "tiny_unet", {"channels": 2})
    with pytest.raises(WeightsError, match="not a defocus-map network"):
        blurmap.estimate_defocus_map(left, right, weights=blade)


def test_bad_views():
    left, right = _pair()
    with pytest.raises(BlurmapError, match="differ in size"):
        blurmap.estimate_defocus_map(left, right[:30])
    with pytest.raises(BlurmapError, match="HxWx3"):
        blurmap.estimate_defocus_map(left[..., 0], right[..., 0])
