"""The background gate: restored pixels blended into the input by the blur mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

import blurmap
from blurmap.cli import main
from blurmap.errors import BlurmapError
from blurmap.infer import GATE_HIGH, GATE_LOW, Deblurrer, gate_blend, gate_weight
from blurmap.io import read_image, write_image


class StripeMaskNet(nn.Module):
    """A model whose blur mask is a known function of the column: p(x) = x / (W - 1).

    Its "restoration" darkens every pixel by 0.2, so restored and input differ everywhere and
    only the gate can make a pixel come out as it went in.
    """

    receptive_field = 1
    size_multiple = 1
    map_kind = "mask"

    def predict(self, x):
        w = x.shape[-1]
        ramp = torch.linspace(0.0, 1.0, w, dtype=torch.float32).view(1, 1, 1, w)
        return {"image": (x - 0.2).clamp(0, 1), "map": ramp.expand(x.shape[0], 1, x.shape[-2], w).clone()}


def _photo(h=64, w=96) -> np.ndarray:
    return (data.astronaut()[100 : 100 + h, 150 : 150 + w] / 255.0).astype(np.float32)


def test_gate_weight_is_the_documented_ramp():
    p = torch.tensor([0.0, 0.05, GATE_LOW, 0.2, 0.3, 0.4, GATE_HIGH, 0.7, 1.0])
    # hand-computed: (p - 0.1) / 0.4 clipped to [0, 1]
    expected = torch.tensor([0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    torch.testing.assert_close(gate_weight(p), expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        gate_weight(p, low=0.5, high=0.5)


def test_gate_keeps_low_probability_pixels_bit_identical():
    img = _photo()
    d = Deblurrer(StripeMaskNet())
    out = d.predict(img, gate=True)
    p = out["map"]
    low, high = p <= GATE_LOW, p >= GATE_HIGH
    assert low.any() and high.any() and (~low & ~high).any()
    assert np.array_equal(out["image"][low], img[low])  # bit for bit
    restored = np.clip(img - 0.2, 0, 1)
    assert np.array_equal(out["image"][high], restored[high])
    mid = ~low & ~high
    w = np.clip((p - GATE_LOW) / (GATE_HIGH - GATE_LOW), 0, 1)[..., None]
    np.testing.assert_allclose(out["image"][mid], (img + w * (restored - img))[mid], atol=1e-6)


def test_gate_off_is_the_ungated_output():
    img = _photo()
    d = Deblurrer(StripeMaskNet())
    plain = d.deblur(img)
    assert np.array_equal(d.deblur(img, gate=False), plain)
    np.testing.assert_allclose(plain, np.clip(img - 0.2, 0, 1), atol=1e-7)
    gated = d.deblur(img, gate=True)
    assert not np.array_equal(gated, plain)


def test_gate_on_torch_batches_and_tiles():
    img = torch.from_numpy(_photo(80, 120)).permute(2, 0, 1)
    batch = torch.stack([img, img.flip(-1)])
    d = Deblurrer(StripeMaskNet(), tile=48, overlap=16)  # many tiles: the map is blended first
    out = d.predict(batch, gate=True)
    low = (out["map"] <= GATE_LOW).expand_as(batch)
    assert low.any()
    assert torch.equal(out["image"][low], batch[low])


def test_blend_helper_end_points_exact():
    a = torch.rand(3, 5, 7)
    b = torch.rand(3, 5, 7)
    assert torch.equal(gate_blend(a, b, torch.zeros(1, 5, 7)), a)
    assert torch.equal(gate_blend(a, b, torch.ones(1, 5, 7)), b)


def test_shipped_local_model_gate_bit_identical():
    model = blurmap.load_model("local")
    img = _photo(96, 128)
    out = model.predict(img, gate=True)
    low = out["map"] < GATE_LOW
    assert low.mean() > 0.05  # the photo has background the LBP calls sharp
    assert np.array_equal(out["image"][low], img[low])
    ungated = blurmap.deblur(img, model, gate=False)
    assert not np.array_equal(ungated[low], img[low])  # without the gate the net does touch them
    assert np.array_equal(blurmap.deblur(img, model, gate=True), out["image"])


def test_models_without_mask_refuse_the_gate():
    defocus = blurmap.load_model("defocus")
    with pytest.raises(BlurmapError, match="predicts no blur mask") as err:
        defocus.deblur(_photo(32, 32), gate=True)
    assert "\n" not in str(err.value)
    plain = Deblurrer(nn.Conv2d(3, 3, 3, padding=1))
    assert not plain.can_gate
    with pytest.raises(BlurmapError):
        plain.deblur(_photo(32, 32), gate=True)


@pytest.mark.parametrize("bits", [8, 16])
def test_cli_gate_file_round_trip_bit_identical(tmp_path, bits, capsys):
    src = tmp_path / f"in{bits}.png"
    write_image(src, _photo(96, 128), bits=bits)
    original = read_image(src)
    out_dir = tmp_path / "out"
    assert main(["deblur", str(src), "-o", str(out_dir), "--model", "local", "--gate", "--save-map"]) == 0
    restored = read_image(out_dir / src.name)
    assert restored.bits == bits
    p = np.load(out_dir / f"{src.stem}_map.npy")
    low = p < GATE_LOW
    assert low.mean() > 0.05
    scale = 2**bits - 1
    got = np.round(restored.array * scale).astype(np.int64)
    want = np.round(original.array * scale).astype(np.int64)
    assert np.array_equal(got[low], want[low])
    # --no-gate (the default) changes some of those pixels
    assert main(["deblur", str(src), "-o", str(tmp_path / "plain"), "--model", "local"]) == 0
    plain = np.round(read_image(tmp_path / "plain" / src.name).array * scale).astype(np.int64)
    assert not np.array_equal(plain[low], want[low])


def test_cli_gate_refused_for_models_without_mask(tmp_path, capsys):
    src = tmp_path / "in.png"
    write_image(src, _photo(32, 32), bits=8)
    out_dir = tmp_path / "out"
    assert main(["deblur", str(src), "-o", str(out_dir), "--model", "defocus", "--gate"]) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--gate" in lines[0] and "blur mask" in lines[0]
    assert not out_dir.exists()
    np.save(tmp_path / "map.npy", np.zeros((32, 32), np.float32))
    assert main(["deblur", str(src), "-o", str(out_dir), "--model", "deconv", "--map", str(tmp_path / "map.npy"),
                 "--gate"]) != 0
    assert "blur mask" in capsys.readouterr().err
    assert not out_dir.exists()
