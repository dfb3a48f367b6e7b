"""``blurmap deblur``: batches with bad files, bit depth, ICC, orientation, overwrite rules."""

from __future__ import annotations

import io as _stdio
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from skimage import data

from blurmap.cli import main
from blurmap.io import read_image, write_image
from blurmap.models import build_model
from blurmap.weights import save_weights

BLADE_CFG = {"width": 4, "bottleneck_mult": 2}


@pytest.fixture(scope="module")
def blade_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "blade_tiny.safetensors"
    save_weights(path, build_model("bladenet", **BLADE_CFG), "bladenet", BLADE_CFG)
    return path


@pytest.fixture(scope="module")
def unet_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "unet_tiny.safetensors"
    save_weights(path, build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 4})
    return path


def _photo(h=48, w=64) -> np.ndarray:
    return (data.astronaut()[100 : 100 + h, 150 : 150 + w] / 255.0).astype(np.float32)


def _png_bytes(array_u8: np.ndarray) -> bytes:
    buf = _stdio.BytesIO()
    PILImage.fromarray(array_u8).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    """A valid 8x8 PNG whose IHDR claims 50000x50000 px (2.5 GP) with a correct CRC."""
    png = _png_bytes(np.zeros((8, 8, 3), np.uint8))
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 data bytes
    ihdr[4:12] = struct.pack(">II", 50000, 50000)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return png[:12] + bytes(ihdr) + crc + png[33:]


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("blurmap: error:")]


def test_batch_with_bad_inputs(tmp_path, blade_weights, capsys):
    src = tmp_path / "in"
    src.mkdir()
    good = _photo()
    write_image(src / "good.png", good, bits=8)
    write_image(src / "deep.png", good, bits=16)
    write_image(src / "grey16.png", good[..., 1], bits=16)
    rgba = np.concatenate([(good * 255).astype(np.uint8), np.full((48, 64, 1), 200, np.uint8)], axis=2)
    (src / "rgba.png").write_bytes(_png_bytes(rgba))
    (src / "empty.png").write_bytes(b"")
    (src / "truncated.png").write_bytes(_png_bytes((good * 255).astype(np.uint8))[:300])
    (src / "notes.png").write_text("this is not an image\n")
    (src / "bomb.png").write_bytes(_bomb_png())
    write_image(src / "tiny.png", np.full((1, 1, 3), 0.5, np.float32), bits=8)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = tmp_path / "out"

    code = main(["deblur", str(src), str(tmp_path / "missing*.png"), "-o", str(out), "--weights", str(blade_weights)])
    err = capsys.readouterr().err
    assert code == 1
    lines = _error_lines(err)
    bad = {"empty.png": "empty", "truncated.png": "truncated", "notes.png": "not an image",
           "bomb.png": "refusing to decode", "tiny.png": "at least 8x8", "missing*.png": "no images match"}
    assert len(lines) == len(bad), err  # one line per failed input
    for name, reason in bad.items():
        assert sum(name in line and reason in line for line in lines) == 1, (name, err)
    # RGBA: a warning naming the file, and a normal output (alpha dropped, RGB written)
    assert any("rgba.png" in line and "alpha" in line for line in err.splitlines() if "warning" in line)
    assert sorted(p.name for p in out.iterdir()) == ["deep.png", "good.png", "grey16.png", "rgba.png"]
    assert "deblurred 4 of 10" in err
    # bit depth and size kept; grey stays grey
    deep = read_image(out / "deep.png")
    assert deep.bits == 16 and deep.array.shape == (48, 64, 3)
    assert read_image(out / "good.png").bits == 8
    grey = read_image(out / "grey16.png")
    assert grey.bits == 16 and grey.array.shape == (48, 64, 3)
    assert np.array_equal(grey.array[..., 0], grey.array[..., 2])
    with PILImage.open(out / "grey16.png") as im:
        assert im.mode.startswith("I")  # a single-channel 16-bit PNG
    # inputs untouched
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_save_map_icc_orientation_and_jpeg(tmp_path, blade_weights, capsys):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "icc.png", _photo(), bits=8, icc_profile=icc)
    # JPEG stored sideways with EXIF orientation 6: the output must be upright, no tag.
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray((_photo(40, 24) * 255).astype(np.uint8)).save(src / "rot.jpg", exif=exif.tobytes())
    out = tmp_path / "out"
    code = main(["deblur", str(src / "icc.png"), str(src / "rot.jpg"), "-o", str(out), "--model", "local",
                 "--weights", str(blade_weights), "--save-map", "--suffix", "_sharp", "--tile", "32", "--overlap", "16"])
    assert code == 0, capsys.readouterr().err
    assert read_image(out / "icc_sharp.png").icc_profile == icc
    upright = read_image(src / "rot.jpg").array
    rot = read_image(out / "rot_sharp.jpg")
    assert rot.array.shape == upright.shape == (24, 40, 3) and rot.exif_orientation_applied == 1
    m = np.load(out / "icc_sharp_map.npy")
    assert m.shape == (48, 64) and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    assert read_image(out / "icc_sharp_map.png").array.shape == (48, 64, 3)


def test_never_overwrites_inputs_and_asks_before_replacing_outputs(tmp_path, unet_weights, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", _photo(), bits=8)
    original = (src / "a.png").read_bytes()
    args = ["deblur", str(src / "a.png"), "--weights", str(unet_weights)]
    # into its own folder without a suffix: refused even with --overwrite
    assert main([*args, "-o", str(src), "--overwrite"]) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert (src / "a.png").read_bytes() == original and sorted(p.name for p in src.iterdir()) == ["a.png"]
    out = tmp_path / "out"
    assert main([*args, "-o", str(out)]) == 0
    first = (out / "a.png").stat().st_mtime_ns
    assert main([*args, "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == first
    assert main([*args, "-o", str(out), "--overwrite"]) == 0
    # same folder with a suffix is fine
    assert main([*args, "-o", str(src), "--suffix", "_db"]) == 0
    assert (src / "a.png").read_bytes() == original and (src / "a_db.png").is_file()


def test_weights_refused(tmp_path, blade_weights, unet_weights, capsys):
    write_image(tmp_path / "a.png", _photo(), bits=8)
    pickle = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, pickle)
    out = tmp_path / "out"
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--weights", str(pickle)]) == 1
    assert "not a safetensors" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--model", "defocus",
                 "--weights", str(blade_weights)]) == 1
    err = capsys.readouterr().err
    assert "holds 'bladenet' weights, not a defocus model" in err and len(err.strip().splitlines()) == 1
    # a model without a map cannot --save-map
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--weights", str(unet_weights), "--save-map"]) == 1
    assert "predicts no map" in capsys.readouterr().err
    # a defocus-map network takes two DP views: refused for deblur and export, in one line
    net = build_model("defocus_map_net", channels=4, levels=1, blocks=1)
    dmap = save_weights(tmp_path / "dmap.safetensors", net, "defocus_map_net", net.init_kwargs)
    for args in (["deblur", str(tmp_path / "a.png"), "-o", str(out), "--weights", str(dmap)],
                 ["export", "--weights", str(dmap), "--format", "onnx", "-o", str(out / "m.onnx")]):
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert "dmap.safetensors: holds 'defocus_map_net' weights" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_missing_shipped_weights_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import blurmap.weights_data as wd

    monkeypatch.setattr(wd, "WEIGHTS_DIR", tmp_path / "nothing")
    write_image(tmp_path / "a.png", _photo(), bits=8)
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", "local"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no starter weights for 'local'" in err and len(err.splitlines()) == 1


def test_precision_and_device_options(tmp_path, unet_weights, capsys):
    write_image(tmp_path / "a.png", _photo(), bits=8)
    base = ["deblur", str(tmp_path / "a.png"), "--weights", str(unet_weights)]
    assert main([*base, "-o", str(tmp_path / "fp32")]) == 0
    assert main([*base, "-o", str(tmp_path / "bf16"), "--precision", "bf16"]) == 0
    a = read_image(tmp_path / "fp32" / "a.png").array
    b = read_image(tmp_path / "bf16" / "a.png").array
    assert np.abs(a - b).mean() < 2 / 255  # bf16 autocast: same picture within ~1 level
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "x"), "--precision", "fp16"]) == 1
    assert "fp16 needs a CUDA device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*base, "-o", str(tmp_path / "x"), "--device", "cuda"]) == 1
        assert "no CUDA device" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "x"), "--tile", "64", "--overlap", "40"]) == 1
    assert "more than half the tile" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_deconv_baseline_with_maps(tmp_path, capsys):
    from blurmap.deconv import deconvolve

    src = tmp_path / "in"
    src.mkdir()
    img = _photo()
    write_image(src / "a.png", img, bits=16)
    write_image(src / "b.png", img[:, ::-1], bits=16)
    maps = tmp_path / "maps"
    maps.mkdir()
    coc = np.full((48, 64), 2.0, np.float32)
    np.save(maps / "a.npy", coc)
    np.save(maps / "b.npy", coc[:40])  # wrong size: this input fails, the other one is written
    out = tmp_path / "out"
    assert main(["deblur", str(src), "-o", str(out), "--model", "deconv", "--map", str(maps)]) == 1
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "b.png" in lines[0] and "map" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    x = torch.from_numpy(read_image(src / "a.png").array).permute(2, 0, 1)[None]
    ref = deconvolve(x, torch.from_numpy(coc)[None, None])[0].clamp(0, 1).permute(1, 2, 0).numpy()
    got = read_image(out / "a.png")
    assert got.bits == 16 and np.abs(got.array - ref).max() <= 1 / 65535 + 1e-6
    assert main(["deblur", str(src / "a.png"), "-o", str(out), "--model", "deconv"]) == 1
    assert "needs --map" in capsys.readouterr().err
