"""Tiled inference engine: tiling geometry, blending, equivalence with untiled runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from blurmap.errors import BlurmapError
from blurmap.infer import (
    MIN_IMAGE_SIDE,
    Deblurrer,
    Tiling,
    blend_window_1d,
    default_tiling,
    tile_starts,
    tiled_predict,
)
from blurmap.models.blocks import RCAB


def _psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


class LocalNet(nn.Module):
    """Purely local restoration net: four 3x3 convs (receptive field 9 px), residual output.

    Its predict() also returns a "map" (a 1-channel local quantity), like the real models.
    """

    receptive_field = 9
    size_multiple = 1

    def __init__(self, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, padding_mode="replicate"),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"),
            nn.ReLU(),
            nn.Conv2d(width, 4, 3, padding=1, padding_mode="replicate"),
        )
        self.max_tile_seen = (0, 0)

    def predict(self, x):
        self.max_tile_seen = tuple(max(a, b) for a, b in zip(self.max_tile_seen, x.shape[-2:]))
        y = self.body(x)
        return {"image": x + 0.1 * y[:, :3], "map": torch.sigmoid(y[:, 3:])}


class MultipleNet(nn.Module):
    """Refuses inputs that are not multiples of 8 (the engine must pad), 2x down/up inside."""

    receptive_field = 12
    size_multiple = 8

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.up = nn.Conv2d(6, 12, 3, padding=1)

    def forward(self, x):
        assert x.shape[-1] % 8 == 0 and x.shape[-2] % 8 == 0, x.shape
        y = nn.functional.pixel_shuffle(self.up(torch.relu(self.down(x))), 2)
        return x + 0.1 * y


class AttentionNet(nn.Module):
    """Like the real generators: RCABs, whose channel attention pools over the whole input."""

    receptive_field = 13

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Sequential(RCAB(16, reduction=4), RCAB(16, reduction=4), RCAB(16, reduction=4))
        self.tail = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        return x + 0.1 * self.tail(self.body(self.head(x)))


def _photo(h=200, w=300) -> np.ndarray:
    return (data.astronaut()[:h, 100 : 100 + w] / 255.0).astype(np.float32)


def test_tile_starts_cover_axis_and_respect_overlap():
    for length, tile, overlap in [(1000, 256, 64), (257, 256, 64), (256, 256, 64), (100, 256, 64), (513, 128, 32)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and min(starts[-1] + tile, length) == length
        for a, b in zip(starts, starts[1:]):
            assert 0 < b - a <= tile - overlap  # neighbours share at least `overlap` px
    assert tile_starts(1000, 256, 64) == [0, 192, 384, 576, 744]


def test_blend_window_ramps_are_complementary_and_discard_edges():
    overlap = 32
    w = blend_window_1d(128, overlap, at_start=False, at_end=False)
    discard, ramp = 12, 8  # 3/8 of the overlap discarded on each side, the middle quarter faded
    assert np.all(w[:discard] == 0) and np.all(w[-discard:] == 0)
    assert np.all(w[discard + ramp : -discard - ramp] == 1)
    ramp_up, ramp_down = w[discard : discard + ramp], w[-discard - ramp : -discard]
    # where two neighbours overlap, one's ramp-down meets the other's ramp-up: they sum to 1
    np.testing.assert_allclose(ramp_up + ramp_down, 1.0, atol=1e-12)
    assert np.all(np.diff(ramp_up) > 0) and np.all((ramp_up > 0) & (ramp_up < 1))
    # image-border sides keep full weight
    w_border = blend_window_1d(128, overlap, at_start=True, at_end=True)
    assert np.all(w_border == 1)


def test_tiled_equals_whole_image_for_local_model():
    net = LocalNet().eval()
    img = _photo()
    x = torch.from_numpy(img).permute(2, 0, 1)
    whole = tiled_predict(net, x, tiling=Tiling(512, 64))  # fits: one tile
    assert net.max_tile_seen == (200, 300)
    net.max_tile_seen = (0, 0)
    tiled = tiled_predict(net, x, tiling=Tiling(64, 24))  # discard 9 px >= half the 9 px field
    # streamed in tiles of at most 64 px (evened out: 200 px = 4 tiles of 60), never the whole image
    assert net.max_tile_seen == (60, 64)
    for key in ("image", "map"):
        assert tiled[key].shape == whole[key].shape
        assert _psnr(tiled[key].numpy(), whole[key].numpy()) >= 45.0
        # exact up to float rounding for a model whose field fits in the discarded margin
        assert float((tiled[key] - whole[key]).abs().max()) < 1e-5


def test_tiled_close_to_whole_image_with_global_channel_attention():
    net = AttentionNet().eval()
    img = _photo(192, 256)
    x = torch.from_numpy(img).permute(2, 0, 1)
    whole = tiled_predict(net, x, tiling=Tiling(512, 64))["image"].numpy()
    tiled = tiled_predict(net, x, tiling=Tiling(128, 48))["image"].numpy()
    assert _psnr(tiled, whole) >= 45.0


def test_no_seams_on_flat_gradient():
    """A smooth ramp image: the tiled output must stay as smooth as the untiled one."""
    h, w = 160, 240
    ramp = np.linspace(0.1, 0.9, w, dtype=np.float32)
    img = np.repeat(np.repeat(ramp[None, :, None], h, 0), 3, 2) * np.array([1.0, 0.8, 0.6], np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)
    net = AttentionNet().eval()
    whole = tiled_predict(net, x, tiling=Tiling(256, 64))["image"].permute(1, 2, 0).numpy()
    tiled = tiled_predict(net, x, tiling=Tiling(64, 24))["image"].permute(1, 2, 0).numpy()
    # Max deviation from the untiled result allowed: 2e-4 (1/20 of an 8-bit level);
    # measured 2.0e-5 (torch 2.13, CPU).
    assert np.abs(tiled - whole).max() < 2e-4
    # Seams would show as jumps in the horizontal derivative at tile boundaries.
    jump_tiled = np.abs(np.diff(tiled, 2, axis=1))[4:-4, 4:-4].max()
    jump_whole = np.abs(np.diff(whole, 2, axis=1))[4:-4, 4:-4].max()
    assert jump_tiled < jump_whole + 1e-3


def test_padding_to_size_multiple_and_crop_back():
    net = MultipleNet().eval()
    img = _photo(101, 77)
    x = torch.from_numpy(img).permute(2, 0, 1)
    whole = tiled_predict(net, x, tiling=Tiling(128, 32))["image"]
    assert whole.shape == (3, 101, 77)
    big = torch.from_numpy(_photo(150, 170)).permute(2, 0, 1)
    out = tiled_predict(net, big, tiling=Tiling(64, 24))["image"]  # interior tiles 64, border padded
    ref = tiled_predict(net, big, tiling=Tiling(256, 24))["image"]
    assert out.shape == (3, 150, 170) and _psnr(out.numpy(), ref.numpy()) >= 45.0


def test_default_tiling_respects_receptive_field_and_multiple():
    net = MultipleNet()
    t = default_tiling(net)
    assert t.overlap >= net.receptive_field and t.overlap % 8 == 0 and t.tile % 8 == 0
    assert t.tile >= 2 * t.overlap


def test_deblurrer_numpy_and_torch_in_kind():
    d = Deblurrer(LocalNet(), tile=64, overlap=24)
    img = _photo(90, 130)
    out = d.deblur(img)
    assert isinstance(out, np.ndarray) and out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    pred = d.predict(img)
    assert pred["map"].shape == (90, 130)
    batch = torch.from_numpy(np.stack([img, img[::-1].copy()])).permute(0, 3, 1, 2).double()
    tout = d.deblur(batch)
    assert isinstance(tout, torch.Tensor) and tout.shape == batch.shape and tout.dtype == torch.float64
    np.testing.assert_allclose(tout[0].permute(1, 2, 0).numpy(), out, atol=1e-6)
    assert d.predict(batch[0])["map"].shape == (1, 90, 130)
    u8 = d.deblur((img * 255).round().astype(np.uint8))
    assert np.abs(u8 - out).max() < 0.02


def test_bf16_autocast_close_to_fp32():
    img = _photo(96, 96)
    ref = Deblurrer(LocalNet(), precision="fp32").deblur(img)
    torch.manual_seed(0)
    low = Deblurrer(LocalNet(), precision="bf16").deblur(img)
    assert _psnr(low, ref) >= 35.0


def test_bad_arguments_are_user_errors():
    with pytest.raises(BlurmapError, match="at least"):
        Deblurrer(LocalNet()).deblur(np.zeros((1, 1, 3), np.float32))
    with pytest.raises(BlurmapError, match="at least"):
        Deblurrer(LocalNet()).deblur(np.zeros((MIN_IMAGE_SIDE - 1, 40, 3), np.float32))
    with pytest.raises(BlurmapError, match="CUDA"):
        Deblurrer(LocalNet(), precision="fp16", device="cpu")
    with pytest.raises(BlurmapError, match="half the tile"):
        Deblurrer(LocalNet(), tile=64, overlap=40)
    with pytest.raises(BlurmapError, match="HxWx3"):
        Deblurrer(LocalNet()).deblur(np.zeros((20, 20, 4), np.float32))


def test_default_tiling_bounded_for_huge_declared_receptive_field():
    """DefocusGAN declares a ~3100 px theoretical field; the default tile must stay bounded."""
    from blurmap.infer import MAX_DEFAULT_OVERLAP
    from blurmap.models import build_model

    net = build_model("defocusgan", dgb_widths=[[4, 8, 16, 32], [4, 8, 16], [4, 8]])
    assert net.receptive_field > 3000
    t = default_tiling(net)
    assert t.overlap == MAX_DEFAULT_OVERLAP and t.tile == net.default_tile == 1536  # its measured defaults
    assert t.tile % net.size_multiple == 0

    class Undeclared(nn.Module):  # no default_tile / default_overlap: the capped rule
        receptive_field = 3100
        size_multiple = 16

    t = default_tiling(Undeclared())
    assert t.overlap == MAX_DEFAULT_OVERLAP and t.tile == 3 * MAX_DEFAULT_OVERLAP


def test_input_array_is_never_modified():
    class InPlace(nn.Module):
        receptive_field = 1

        def forward(self, x):
            x.mul_(0.5)  # a careless model writing into its input
            return x

    img = _photo(64, 80)
    keep = img.copy()
    out = Deblurrer(InPlace()).deblur(img)  # whole image = one channels-last tile: a view without the copy
    assert np.array_equal(img, keep)
    np.testing.assert_allclose(out, keep * 0.5, atol=1e-7)
    Deblurrer(InPlace(), tile=32, overlap=8).deblur(img)
    assert np.array_equal(img, keep)


@pytest.mark.filterwarnings("ignore:overlap .* below")
def test_shipped_bladenet_tiled_matches_whole_image():
    """The shipped starter BladeNet (U-Net, LBP map): tiling agrees with one whole-image tile."""
    import blurmap

    model = blurmap.load_model("local")
    img = _photo(192, 256)
    whole = model.predict(img, tile=512)
    tiled = model.predict(img, tile=192, overlap=96)  # two tiles along the width
    # measured (torch 2.13, CPU fp32): image 84 dB, map 54 dB
    assert _psnr(tiled["image"], whole["image"]) >= 45.0
    assert _psnr(tiled["map"], whole["map"]) >= 45.0
