"""blurmap.io: round trips, orientation, channel handling, and one clear error per bad file."""

from __future__ import annotations

import os
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageOps

from blurmap.errors import ImageReadError, ImageWriteError
from blurmap.io import image_to_tensor, list_images, read_image, tensor_to_image, write_image


@pytest.fixture
def rgb():
    return np.random.default_rng(1).random((13, 21, 3))


def _levels(array, bits):
    return np.round(np.asarray(array, dtype=np.float64) * (2**bits - 1)).astype(np.int64)


@pytest.mark.parametrize("ext,bits", [(".png", 16), (".png", 8), (".tif", 16), (".tiff", 8)])
def test_round_trip_is_exact(tmp_path, rgb, ext, bits):
    path = tmp_path / f"x{ext}"
    write_image(path, rgb, bits=bits)
    im = read_image(path)
    assert im.bits == bits and im.array.dtype == np.float32 and im.array.shape == (13, 21, 3)
    assert np.array_equal(_levels(im.array, bits), _levels(rgb, bits))
    # Writing what was read gives the same file (no drift through float32).
    again = tmp_path / f"y{ext}"
    write_image(again, im.array, bits=bits)
    assert np.array_equal(_levels(read_image(again).array, bits), _levels(rgb, bits))


def test_png16_matches_opencv_decoding_bit_exactly(tmp_path):
    """Independent writer (OpenCV, BGR) -> our reader gives the same RGB 16-bit samples."""
    samples = np.random.default_rng(2).integers(0, 65536, size=(9, 10, 3), dtype=np.uint16)
    path = tmp_path / "cv.png"
    cv2.imwrite(str(path), samples[:, :, ::-1])
    im = read_image(path)
    assert im.bits == 16
    assert np.array_equal(_levels(im.array, 16), samples)


def test_jpeg_is_8_bit_and_16_bit_jpeg_refused(tmp_path, rgb):
    write_image(tmp_path / "a.jpg", rgb)
    im = read_image(tmp_path / "a.jpg")
    assert im.bits == 8 and im.format == "JPEG"
    assert np.abs(im.array - rgb).mean() < 0.05  # lossy but close
    with pytest.raises(ImageWriteError, match="8-bit"):
        write_image(tmp_path / "b.jpg", rgb, bits=16)
    assert not (tmp_path / "b.jpg").exists()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    samples = np.random.default_rng(3).integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    pil = PILImage.fromarray(samples)
    exif = pil.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"  # PNG keeps pixels exact, so we compare bit for bit
    pil.save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    im = read_image(path)
    assert im.exif_orientation_applied == orientation
    assert np.array_equal(_levels(im.array, 8), expected)


def test_jpeg_orientation_6_is_rotated_clockwise(tmp_path):
    # Left half black, right half white, 16x32 stored; tag 6 -> shown rotated 90 deg clockwise,
    # so the upright image is 32x16 with the (stored) left half at the top.
    samples = np.zeros((16, 32, 3), np.uint8)
    samples[:, 16:] = 255
    pil = PILImage.fromarray(samples)
    exif = pil.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    pil.save(path, exif=exif.tobytes(), quality=95)
    im = read_image(path)
    assert im.array.shape == (32, 16, 3)
    assert im.array[:12].mean() < 0.1 and im.array[20:].mean() > 0.9


def test_tiff_orientation_tag(tmp_path):
    samples = np.random.default_rng(9).integers(0, 65536, size=(5, 8, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "o6.tif", samples, photometric="rgb", extratags=[(274, "H", 1, 6, False)])
    im = read_image(tmp_path / "o6.tif")
    assert im.exif_orientation_applied == 6
    assert np.array_equal(_levels(im.array, 16), np.rot90(samples, -1))


def test_16bit_png_exif_orientation(tmp_path):
    samples = np.random.default_rng(4).integers(0, 65536, size=(5, 8, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", samples[:, :, ::-1])
    png = buf.tobytes()
    exif = PILImage.Exif()
    exif[0x0112] = 8
    body = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif\x00\x00") else exif.tobytes()
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    path = tmp_path / "o16.png"
    path.write_bytes(png[:33] + chunk + png[33:])
    im = read_image(path)
    assert im.bits == 16 and im.exif_orientation_applied == 8
    assert np.array_equal(_levels(im.array, 16), np.rot90(samples, 1))


@pytest.mark.parametrize("bits", [8, 16])
def test_gray_becomes_three_equal_channels(tmp_path, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    gray = np.random.default_rng(5).integers(0, 2**bits, size=(6, 9), dtype=dtype)
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), gray)
    im = read_image(path)
    assert im.bits == bits and im.array.shape == (6, 9, 3)
    for c in range(3):
        assert np.array_equal(_levels(im.array[:, :, c], bits), gray)


def test_gray_tiff_16(tmp_path):
    gray = np.random.default_rng(6).integers(0, 65536, size=(6, 9), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "g.tif", gray)
    im = read_image(tmp_path / "g.tif")
    assert im.bits == 16 and np.array_equal(_levels(im.array[:, :, 2], 16), gray)


@pytest.mark.parametrize("bits", [8, 16])
def test_rgba_drops_alpha_with_warning_naming_file(tmp_path, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    rgba = np.random.default_rng(7).integers(0, 2**bits, size=(4, 5, 4), dtype=dtype)
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), rgba[:, :, [2, 1, 0, 3]])
    with pytest.warns(UserWarning, match="alpha.png.*alpha"):
        im = read_image(path)
    assert im.had_alpha and im.array.shape == (4, 5, 3)
    assert np.array_equal(_levels(im.array, bits), rgba[:, :, :3])


def test_icc_profile_round_trips(tmp_path, rgb):
    profile = b"fake-icc-profile-bytes" * 10  # stored verbatim; pixels are not colour-managed
    for name in ("p16.png", "p.tif", "p.jpg"):
        write_image(tmp_path / name, rgb, bits=8, icc_profile=profile)
        assert read_image(tmp_path / name).icc_profile == profile


def _expect_read_error(path, reason_pattern, **kwargs):
    with pytest.raises(ImageReadError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert info.value.path == str(path)
    assert re.search(reason_pattern, info.value.reason), message


def test_bad_inputs_each_give_one_clear_error(tmp_path, rgb):
    _expect_read_error(tmp_path / "missing.png", "no such file")
    (tmp_path / "empty.png").write_bytes(b"")
    _expect_read_error(tmp_path / "empty.png", "empty")
    (tmp_path / "text.png").write_text("this is not an image\n")
    _expect_read_error(tmp_path / "text.png", "not an image")
    for bits in (8, 16):
        write_image(tmp_path / f"full{bits}.png", rgb, bits=bits)
        data = (tmp_path / f"full{bits}.png").read_bytes()
        (tmp_path / f"cut{bits}.png").write_bytes(data[: len(data) // 2])
        _expect_read_error(tmp_path / f"cut{bits}.png", "truncated")
    (tmp_path / "head.png").write_bytes(data[:20])
    _expect_read_error(tmp_path / "head.png", "truncated")
    write_image(tmp_path / "full.tif", rgb, bits=16)
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    _expect_read_error(tmp_path / "cut.tif", "truncated or corrupt")
    _expect_read_error(tmp_path, "folder")


def test_unsupported_sample_type_and_channels(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((4, 4, 3), np.float32), photometric="rgb")
    _expect_read_error(tmp_path / "f.tif", "sample type")
    tifffile.imwrite(tmp_path / "c5.tif", np.zeros((4, 4, 5), np.uint8), photometric="minisblack", planarconfig="contig")
    _expect_read_error(tmp_path / "c5.tif", "channels")
    planar = np.random.default_rng(8).integers(0, 65536, size=(3, 4, 6), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    assert np.array_equal(_levels(read_image(tmp_path / "planar.tif").array, 16), planar.transpose(1, 2, 0))


@pytest.mark.parametrize("name", ["b.png", "b.tif", "b.jpg"])
def test_decompression_bomb_refused_from_header(tmp_path, rgb, name, monkeypatch):
    write_image(tmp_path / name, rgb)  # 13x21 = 273 px
    _expect_read_error(tmp_path / name, "273 pixels", max_pixels=272)
    assert read_image(tmp_path / name, max_pixels=273).array.shape == (13, 21, 3)
    monkeypatch.setenv("BLURMAP_MAX_PIXELS", "100")
    _expect_read_error(tmp_path / name, "limit 100")
    assert read_image(tmp_path / name, max_pixels=1000).bits == 8  # explicit beats env


def test_bomb_check_happens_before_decoding(tmp_path, monkeypatch):
    """A PNG header claiming 100k x 100k px with no pixel data is refused for its size, not
    for being truncated: the limit is applied before any decoding starts."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    png += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "bomb.png").write_bytes(png)
    _expect_read_error(tmp_path / "bomb.png", "10,000,000,000 pixels")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, rgb, monkeypatch):
    target = tmp_path / "out.png"
    # bad array: nothing written
    with pytest.raises(ImageWriteError, match="NaN"):
        write_image(target, np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageWriteError, match="shape"):
        write_image(target, np.zeros((4, 4, 2)))
    # missing folder: clear error
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "nope" / "x.png", rgb)
    # failure during the write itself (disk full): no partial file, no temp file left,
    # and an existing destination is untouched
    write_image(target, rgb)
    before = target.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ImageWriteError, match="No space left"):
        write_image(target, 1 - rgb)
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "new.png", rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert target.read_bytes() == before


def test_overwrite_false_refuses(tmp_path, rgb):
    write_image(tmp_path / "a.png", rgb)
    with pytest.raises(ImageWriteError, match="exists"):
        write_image(tmp_path / "a.png", rgb, overwrite=False)


def test_tensor_conversions(rgb):
    t = image_to_tensor(rgb)
    assert tuple(t.shape) == (1, 3, 13, 21) and str(t.dtype) == "torch.float32"
    assert np.allclose(t[0, 1].numpy(), rgb[:, :, 1], atol=1e-7)
    back = tensor_to_image(t)
    assert back.shape == (13, 21, 3) and back.dtype == np.float32
    assert np.array_equal(back, rgb.astype(np.float32))
    assert tuple(image_to_tensor(rgb[:, :, 0]).shape) == (1, 3, 13, 21)


def test_list_images_expands_files_folders_globs(tmp_path, rgb):
    for name in ("b.png", "a.jpg", "c.tif"):
        write_image(tmp_path / name, rgb)
    (tmp_path / "notes.txt").write_text("x")
    sub = tmp_path / "sub"
    sub.mkdir()
    write_image(sub / "d.png", rgb)
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png", "c.tif"]
    assert [p.name for p in list_images(str(tmp_path / "**" / "*.png"))] == ["b.png", "d.png"]
    got = list_images([tmp_path / "c.tif", tmp_path, sub / "d.png"])
    assert [p.name for p in got] == ["c.tif", "a.jpg", "b.png", "d.png"]
    with pytest.raises(ImageReadError, match="no such file"):
        list_images([tmp_path / "missing.png"])
    with pytest.raises(ImageReadError, match="match"):
        list_images([str(tmp_path / "*.webp")])


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("block", [1, 130, 1 << 20])  # one row per block (1 px < a row), 2 rows, whole image
def test_quantisation_in_row_blocks_equals_float64_rounding(tmp_path, monkeypatch, bits, block):
    """write_image quantises a block of rows at a time (memory); the samples must still be
    round(clip(x, 0, 1) * peak) computed in float64 — including float32 inputs whose float32
    product x * peak would round to the other level, near-ties and out-of-range values."""
    import blurmap.io

    monkeypatch.setattr(blurmap.io, "_QUANTIZE_BLOCK", block)
    peak = 2**bits - 1
    pool = np.random.default_rng(3).random(2_000_000, dtype=np.float32)
    f32_wrong = pool[np.round(pool.astype(np.float64) * peak) != np.round(pool * np.float32(peak))]
    assert f32_wrong.size >= 3  # measured: ~7e-6 (8-bit), ~1.3e-3 (16-bit) of uniform float32
    values = np.concatenate([f32_wrong[:60], ((np.arange(40) + 0.5) / peak).astype(np.float32),
                             np.float32([-0.2, 1.3, 0.0, 1.0])])
    x = np.resize(values, 7 * 21 * 3).reshape(7, 21, 3)
    reference = np.round(np.clip(x.astype(np.float64), 0, 1) * peak)
    write_image(tmp_path / "q.png", x, bits=bits)
    write_image(tmp_path / "q.tif", x, bits=bits)
    assert np.array_equal(cv2.imread(str(tmp_path / "q.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1], reference)
    assert np.array_equal(tifffile.imread(tmp_path / "q.tif"), reference)
    x[6, 20, 2] = np.nan  # in the last block: still refused, nothing written
    with pytest.raises(ImageWriteError, match="NaN"):
        write_image(tmp_path / "nan.png", x, bits=bits)
    assert not (tmp_path / "nan.png").exists()
