"""Public Python API: load_model by path and shipped name, numpy/torch in kind, blur_mask."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from skimage import data

import blurmap
from blurmap.api import colorize_map, resolve_weights
from blurmap.errors import BlurmapError, WeightsError
from blurmap.models import build_model
from blurmap.weights import save_weights

BLADE_CFG = {"width": 4, "bottleneck_mult": 2}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("shipped")
    save_weights(folder / "bladenet_starter.safetensors", build_model("bladenet", **BLADE_CFG), "bladenet", BLADE_CFG)
    save_weights(folder / "unet.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 4})
    return folder


@pytest.fixture
def shipped(weights_dir, monkeypatch):
    import blurmap.weights_data as wd

    monkeypatch.setattr(wd, "WEIGHTS_DIR", weights_dir)
    return weights_dir


def _photo(h=40, w=56) -> np.ndarray:
    return (data.chelsea()[50 : 50 + h, 100 : 100 + w] / 255.0).astype(np.float32)


def test_shipped_names_resolve(shipped):
    path = shipped / "bladenet_starter.safetensors"
    for name in ("local", "bladenet", "bladenet_starter", "bladenet_starter.safetensors"):
        assert resolve_weights(name) == path
    assert resolve_weights("unet") == shipped / "unet.safetensors"  # any file in the folder, by stem
    assert resolve_weights("tiny_unet") == shipped / "unet.safetensors"  # or by the network it holds
    with pytest.raises(WeightsError, match="no starter weights for 'defocus'"):
        resolve_weights("defocus")
    with pytest.raises(WeightsError, match="unknown weights 'nope'"):
        resolve_weights("nope")
    with pytest.raises(WeightsError, match="no such weights file"):
        resolve_weights(shipped / "missing.safetensors")


def test_load_model_numpy_and_torch(shipped):
    model = blurmap.load_model("local")
    assert isinstance(model, blurmap.Deblurrer) and model.name == "bladenet"
    img = _photo()
    out = model.deblur(img)
    assert isinstance(out, np.ndarray) and out.shape == img.shape and out.dtype == np.float32
    batch = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    tout = model.deblur(batch)
    assert isinstance(tout, torch.Tensor) and tout.shape == (2, 3, 40, 56)
    # the API is a thin shell over the network: same numbers as calling it directly
    with torch.no_grad():
        direct = model.model.predict(batch.contiguous())["image"]
    assert float((tout - direct).abs().max()) < 1e-5
    np.testing.assert_allclose(tout[1].permute(1, 2, 0).numpy(), out, atol=1e-5)
    assert np.array_equal(blurmap.deblur(img, model), out)


def test_blur_mask(shipped):
    img = _photo()
    mask = blurmap.blur_mask(img)
    assert mask.shape == (40, 56) and mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
    tmask = blurmap.blur_mask(torch.from_numpy(img).permute(2, 0, 1)[None])
    assert tmask.shape == (1, 1, 40, 56)
    np.testing.assert_allclose(tmask[0, 0].numpy(), mask, atol=1e-5)
    with pytest.raises(BlurmapError, match="no blur mask"):
        blurmap.blur_mask(img, weights="unet")


def test_shipped_file_copied_elsewhere_loads_by_path(shipped, tmp_path):
    copy = tmp_path / "mine.safetensors"
    shutil.copy(shipped / "unet.safetensors", copy)
    assert blurmap.load_model(copy).name == "tiny_unet"
    assert blurmap.load_model(str(copy)).name == "tiny_unet"


def test_colorize_map():
    mask = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    rgb = colorize_map(mask, "mask")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
    coc = np.array([[-5.0, 0.0, 5.0]], np.float32)
    c = colorize_map(coc, "coc")
    # symmetric diverging map: -L is blue-ish, +L red-ish, 0 is the neutral middle (R ~ B)
    assert c[0, 0, 2] > c[0, 0, 0] and c[0, 2, 0] > c[0, 2, 2] and abs(c[0, 1, 0] - c[0, 1, 2]) < 0.15
