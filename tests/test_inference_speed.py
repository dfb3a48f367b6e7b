"""Inference rewrites that must not change outputs: BatchNorm folding, bf16-stored conv
weights, balanced tiles, the precision default; shipped weights keep loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

import blurmap
from blurmap.errors import BlurmapError
from blurmap.infer import (
    Deblurrer,
    Tiling,
    balanced_tile,
    count_tiles,
    inference_runner,
    resolve_precision,
    tiled_predict,
)
from blurmap.models.bladenet import double_conv
from blurmap.models.fold import cast_conv_weights, fold_batchnorm
from blurmap.weights import load_network, load_weights


def _photo(h=192, w=256) -> np.ndarray:
    return (data.astronaut()[:h, 100 : 100 + w] / 255.0).astype(np.float32)


def test_fold_batchnorm_equals_eval_module():
    torch.manual_seed(0)
    block = nn.Sequential(double_conv(3, 8), nn.Conv2d(8, 2, 1))
    block.train()
    for _ in range(3):  # give the BNs non-trivial running statistics
        block(torch.randn(4, 3, 16, 16) * 2 + 0.5)
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    block.eval()
    folded = fold_batchnorm(block)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in block.modules())  # the original is untouched
    x = torch.randn(2, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), block(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["local", "defocus"])
def test_shipped_weights_same_keys_and_outputs(name):
    """The Deblurrer runs a rewritten copy; the loaded module, its keys and outputs are the file's."""
    from blurmap.api import resolve_weights

    path = resolve_weights(name)
    state, _ = load_weights(path)
    d = blurmap.load_model(name, precision="fp32")
    assert set(d.model.state_dict()) == set(state)
    x = torch.from_numpy(_photo()).permute(2, 0, 1)[None].contiguous()
    net = load_network(path).eval()
    with torch.no_grad():
        ref = net.predict(x)
    out = d.predict(x, tile=4096)
    # fp32, BatchNorm folded: measured max |difference| 6e-7 (image), 3e-6 (map)
    for key in ref:
        assert (out[key] - ref[key]).abs().max().item() <= 1e-5


@pytest.mark.filterwarnings("ignore:overlap .* below")
@pytest.mark.parametrize("name", ["local", "defocus"])
def test_bf16_stored_weights_bit_identical_to_autocast(name):
    d = blurmap.load_model(name, precision="bf16")
    x = torch.from_numpy(_photo(160, 224)).permute(2, 0, 1)
    plain = tiled_predict(inference_runner(d.model, "fp32"), x, tiling=Tiling(128, 32), precision="bf16")
    cast = tiled_predict(d.runner, x, tiling=Tiling(128, 32), precision="bf16")
    assert plain.keys() == cast.keys()
    for key in plain:
        assert torch.equal(plain[key], cast[key])
    assert all(p.dtype == torch.float32 for p in d.model.parameters())  # the trained module keeps fp32


def test_cast_conv_weights_leaves_other_layers():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    cast = cast_conv_weights(net)
    assert cast[0].weight.dtype == cast[2].weight.dtype == torch.bfloat16
    assert cast[1].weight.dtype == torch.float32 and net[0].weight.dtype == torch.float32


def test_balanced_tile_hand_computed():
    # 4000 px, tile 1024, overlap 128: ceil(3872 / 896) = 5 tiles; ceil(3872 / 5) + 128 = 903 -> 912 (x16)
    assert balanced_tile(4000, 1024, 128, 16) == 912
    # 3000 px: 4 tiles, ceil(2872 / 4) + 128 = 846 -> 848
    assert balanced_tile(3000, 1024, 128, 16) == 848
    assert balanced_tile(900, 1024, 128, 16) == 900  # one tile: the whole axis
    assert balanced_tile(1025, 1024, 512, 1) == 1024  # never above the tile, never below 2 * overlap
    assert count_tiles(3000, 4000, Tiling(1024, 128), 16) == 20
    assert count_tiles(3000, 4000, Tiling(1024, 128), 1) == 20  # same count as unbalanced tiles


def test_balanced_tiles_cover_the_image_exactly():
    class Identity(nn.Module):
        receptive_field = 1

        def forward(self, x):
            return x

    img = torch.rand(3, 301, 517)
    out = tiled_predict(Identity(), img, tiling=Tiling(96, 32))["image"]
    torch.testing.assert_close(out, img, atol=1e-6, rtol=0)  # windows sum to 1 everywhere


def test_precision_auto(monkeypatch):
    import blurmap.infer as infer

    monkeypatch.setattr(infer, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert Deblurrer(nn.Conv2d(3, 3, 1), precision="auto").precision == "bf16"
    monkeypatch.setattr(infer, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(BlurmapError, match="unknown precision"):
        Deblurrer(nn.Conv2d(3, 3, 1), precision="fast")


def test_cpu_flag_reader_matches_proc_cpuinfo():
    from blurmap.infer import cpu_has_native_bf16

    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        assert cpu_has_native_bf16() is False
        return
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    assert cpu_has_native_bf16() == bool({"avx512_bf16", "amx_bf16"} & set(flags))
