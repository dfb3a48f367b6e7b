"""Readers on damaged and hostile files: one clear error or one named warning, never a stray line.

Each case is built by hand from a valid file (a TIFF tag rewritten, a PNG scanline damaged and
recompressed), so the test says exactly which damage it covers.
"""

from __future__ import annotations

import io as _stdio
import logging
import struct
import warnings
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from blurmap.errors import ImageReadError
from blurmap.io import read_image, read_image_bytes, write_image


def _rgb(h=12, w=10, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _tiff(samples: np.ndarray, **kwargs) -> bytes:
    buf = _stdio.BytesIO()
    tifffile.imwrite(buf, samples, photometric="rgb", **kwargs)
    return buf.getvalue()


def _ifd_entry(data: bytes, tag: int) -> int:
    """Offset of the 12-byte IFD entry of ``tag`` in a little-endian classic TIFF."""
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack("<H", data[at : at + 2])[0] == tag:
            return at
    raise KeyError(tag)


def _set_entry(data: bytes, tag: int, *, type_: int | None = None, count: int | None = None,
               value: bytes | None = None) -> bytes:
    d = bytearray(data)
    at = _ifd_entry(data, tag)
    if type_ is not None:
        d[at + 2 : at + 4] = struct.pack("<H", type_)
    if count is not None:
        d[at + 4 : at + 8] = struct.pack("<I", count)
    if value is not None:
        d[at + 8 : at + 12] = value
    return bytes(d)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png16(samples: np.ndarray, *, raw: bytes | None = None, interlace: int = 0) -> bytes:
    """A 16-bit RGB PNG written by hand: filter type 0 scanlines (or ``raw`` as the inflated
    stream), one IDAT, correct CRCs."""
    h, w, _ = samples.shape
    if raw is None:
        big = samples.astype(">u2")
        if interlace:
            passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
            rows = [b"\x00" + big[y, x0::dx].tobytes() for x0, y0, dx, dy in passes
                    if x0 < w for y in range(y0, h, dy)]
        else:
            rows = [b"\x00" + big[y].tobytes() for y in range(h)]
        raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b"")


@pytest.fixture
def no_stray_output(capfd, caplog):
    """Nothing on the process's stderr (C libraries included) and no log record."""
    caplog.set_level(logging.DEBUG)
    yield
    assert capfd.readouterr().err == ""
    assert [r.getMessage() for r in caplog.records] == []


def _named_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught]


# ------------------------------------------------------------------------------------ TIFF


def test_tiff_size_tag_with_two_values_is_a_read_error(no_stray_output):
    # ImageWidth stored as two SHORTs: tifffile hands back a tuple (int() of it was a TypeError).
    data = _set_entry(_tiff(_rgb()), 256, type_=3, count=2, value=struct.pack("<HH", 10, 10))
    with pytest.raises(ImageReadError, match=r"^two\.tif: corrupt TIFF header \(image width"):
        read_image_bytes(data, "two.tif")


def test_tiff_damaged_tag_reads_with_one_named_warning(no_stray_output):
    clean = _tiff(_rgb(), software="blurmap-test")
    # The Software string (tag 305) points outside the file: tifffile logs and skips the tag.
    data = _set_entry(clean, 305, value=struct.pack("<I", 10_000_000))
    image, lines = _named_warnings(read_image_bytes, data, "soft.tif")
    assert np.array_equal(np.round(image.array * 255).astype(np.uint8), _rgb())
    assert len(lines) == 1 and lines[0].startswith("soft.tif: damaged TIFF read anyway"), lines


def test_tiff_strips_outside_the_file_are_refused(no_stray_output):
    data = _tiff(_rgb(), rowsperstrip=4)
    at = _ifd_entry(data, 273)  # StripOffsets: three LONGs stored elsewhere
    (where,) = struct.unpack("<I", data[at + 8 : at + 12])
    d = bytearray(data)
    d[where + 4 : where + 8] = struct.pack("<I", len(data) + 100)
    with pytest.raises(ImageReadError, match="strips missing or outside the file"):
        read_image_bytes(bytes(d), "far.tif")


def test_batch_of_damaged_tiffs_gives_one_line_per_file(tmp_path, capfd):
    """``blurmap deblur`` on damaged TIFFs: every stderr line names its file; nothing else."""
    from blurmap.cli import main
    from blurmap.models import build_model
    from blurmap.weights import save_weights

    weights = tmp_path / "tiny.safetensors"
    config = {"width": 4, "bottleneck_mult": 2}
    save_weights(weights, build_model("bladenet", **config), "bladenet", config)
    src = tmp_path / "in"
    src.mkdir()
    clean = _tiff(_rgb(16, 16), software="blurmap-test")
    (src / "soft.tif").write_bytes(_set_entry(clean, 305, value=struct.pack("<I", 10_000_000)))
    (src / "two.tif").write_bytes(_set_entry(clean, 256, type_=3, count=2, value=struct.pack("<HH", 16, 16)))
    (src / "cut.tif").write_bytes(clean[: len(clean) // 2])
    (src / "good.tif").write_bytes(clean)
    code = main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    err = capfd.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    summary = [line for line in lines if line.startswith("deblurred")]
    assert summary == ["deblurred 2 of 4 input(s) with bladenet into " + str(tmp_path / "out") + "; 2 failed"]
    per_file = [line for line in lines if not line.startswith("deblurred")]
    assert len(per_file) == 3, err
    for name, kind in (("soft.tif", "warning"), ("two.tif", "error"), ("cut.tif", "error")):
        assert sum(f"blurmap: {kind}: {src / name}:" in line for line in per_file) == 1, err


# ------------------------------------------------------------------------------------- PNG


def test_png16_bad_filter_byte_is_refused_quietly(no_stray_output):
    samples = _rgb().astype(np.uint16) * 257
    good = _png16(samples)
    assert np.array_equal(np.round(read_image_bytes(good, "g.png").array * 65535).astype(np.uint16), samples)
    raw = bytearray(zlib.decompress(_png16_idat(good)))
    raw[(1 + 10 * 6) * 5] = 9  # the filter byte of row 5
    with pytest.raises(ImageReadError, match=r"^f\.png: corrupt PNG data \(bad scanline filter type 9\)"):
        read_image_bytes(_png16(samples, raw=bytes(raw)), "f.png")


def _png16_idat(png: bytes) -> bytes:
    pos, out = 8, b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            out += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return out


@pytest.mark.parametrize("cut", ["rows", "iend"])
def test_png16_short_stream_or_missing_iend_is_refused_quietly(no_stray_output, cut):
    samples = _rgb().astype(np.uint16) * 300
    good = _png16(samples)
    if cut == "rows":
        raw = zlib.decompress(_png16_idat(good))
        data, reason = _png16(samples, raw=raw[: len(raw) - 61]), "truncated PNG data"
    else:
        data, reason = good[:-2], "no complete IEND chunk"
    with pytest.raises(ImageReadError, match=reason):
        read_image_bytes(data, "short.png")


@pytest.mark.parametrize("shape", [(12, 10), (1, 9), (9, 1), (17, 13)])
def test_png16_interlaced_written_by_hand_decodes_exactly(shape, no_stray_output):
    """The stream check walks the seven Adam7 passes; a valid interlaced file must pass it."""
    h, w = shape
    samples = (np.random.default_rng(3).integers(0, 65536, size=(h, w, 3))).astype(np.uint16)
    image = read_image_bytes(_png16(samples, interlace=1), "adam7.png", max_pixels=10_000)
    assert image.bits == 16
    assert np.array_equal(np.round(image.array * 65535).astype(np.uint16), samples)


# ----------------------------------------------------------------------------- JPEG, bytes


def test_jpeg_corrupt_exif_gives_one_named_warning(no_stray_output):
    buf = _stdio.BytesIO()
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray(_rgb(16, 16)).save(buf, format="JPEG", exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    at = data.index(b"Exif\x00\x00") + 6
    data[at + 4 : at + 8] = struct.pack("<I", 60000) if data[at] == ord("I") else struct.pack(">I", 60000)  # IFD0 far away
    image, lines = _named_warnings(read_image_bytes, bytes(data), "exif.jpg")
    assert image.array.shape == (16, 16, 3)
    assert len(lines) == 1 and lines[0].startswith("exif.jpg: damaged file read anyway"), lines


@pytest.mark.parametrize("ext,bits", [(".png", 8), (".png", 16), (".tif", 16), (".jpg", 8)])
def test_read_image_bytes_matches_read_image(tmp_path, ext, bits):
    path = tmp_path / f"x{ext}"
    write_image(path, _rgb(9, 14).astype(np.float32) / 255.0, bits=bits)
    from_file, from_bytes = read_image(path), read_image_bytes(path.read_bytes(), "upload" + ext)
    assert np.array_equal(from_file.array, from_bytes.array)
    assert (from_bytes.bits, from_bytes.path) == (from_file.bits, "upload" + ext)


def test_read_image_bytes_refuses_like_read_image():
    with pytest.raises(ImageReadError, match=r"^up\.png: empty file"):
        read_image_bytes(b"", "up.png")
    with pytest.raises(ImageReadError, match=r"^up\.png: refusing to decode 50x40"):
        read_image_bytes(_png16(np.zeros((40, 50, 3), np.uint16)), "up.png", max_pixels=1000)
    with pytest.raises(TypeError):
        read_image_bytes("not bytes", "up.png")


def test_read_image_bytes_hands_warnings_to_warn():
    """A server collects each request's warning lines itself (warnings.catch_warnings is not
    thread-safe); nothing goes to the warnings module then."""
    rgba = np.concatenate([_rgb(), np.full((12, 10, 1), 128, np.uint8)], axis=2)
    buf = _stdio.BytesIO()
    PILImage.fromarray(rgba).save(buf, format="PNG")
    got: list[str] = []
    image, lines = _named_warnings(read_image_bytes, buf.getvalue(), "alpha.png", warn=got.append)
    assert image.had_alpha and lines == []
    assert got == ["alpha.png: alpha channel dropped (image read as RGB)"]
