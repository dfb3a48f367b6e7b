"""Seeded mutation fuzzing of the image readers (:func:`blurmap.io.read_image_bytes`).

A small seed file is written for each format the readers take (PNG 8/16-bit, JPEG with an
EXIF orientation tag, TIFF plain and zlib-compressed, WebP, BMP); each mutated copy is then
decoded in memory. The contract checked for every copy:

- it decodes to a float32 ``(H, W, 3)`` array of finite values in ``[0, 1]`` with ``bits``
  8 or 16, or it is refused with :class:`~blurmap.errors.ImageReadError`; nothing else is
  raised;
- every warning it causes names the file (one line a user can act on), and no logger prints
  a line of its own.

Mutations are what real damage and hostile uploads look like: flipped bits, overwritten bytes,
"interesting" integers (0, 0xFF, 0x7FFF, 0xFFFFFFFF, ...) over header fields, truncation,
repeated and deleted blocks. For PNG, half of the mutants get their chunk CRCs repaired, and
some are damaged inside the inflated scanlines and recompressed, so the damage reaches the
decoders instead of stopping at the checksum tests.

The test suite runs a short, fixed-seed campaign (``tests/test_io_fuzz.py``);
``benchmarks/fuzz_readers.py`` runs long ones.
"""

from __future__ import annotations

import io as _stdio
import logging
import struct
import time
import traceback
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FORMATS", "FuzzReport", "seed_files", "mutate", "fuzz_readers"]

#: the seed formats, in the order a campaign runs them
FORMATS = ("png8", "png16", "jpeg", "tiff", "tiff-zlib", "webp", "bmp")

# Values that sit on the edges of the integer types header fields are stored in.
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


def _seed_pixels(height: int = 20, width: int = 28) -> np.ndarray:
    """A small uint8 RGB image with gradients and texture (compresses, but not to nothing)."""
    rng = np.random.default_rng(1234)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) * 4 % 256], axis=2)
    noise = rng.integers(0, 32, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def seed_files() -> dict[str, bytes]:
    """One small, valid file per entry of :data:`FORMATS` (bytes, made in memory)."""
    import cv2
    import tifffile
    from PIL import Image as PILImage

    rgb = _seed_pixels()
    seeds: dict[str, bytes] = {}

    def pil(fmt: str, **kwargs) -> bytes:
        buf = _stdio.BytesIO()
        PILImage.fromarray(rgb).save(buf, format=fmt, **kwargs)
        return buf.getvalue()

    seeds["png8"] = pil("PNG")
    ok, png16 = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.uint16) * 257)
    assert ok
    # With an ICC profile and a text chunk: damage to ancillary chunks reaches libpng too.
    from PIL import ImageCms

    from blurmap.io import _png_with_icc

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with_icc = _png_with_icc(png16.tobytes(), icc)
    seeds["png16"] = with_icc[:-12] + _png_chunk(b"tEXt", b"Comment\x00fuzzed") + with_icc[-12:]
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored sideways: the reader's orientation path runs too
    seeds["jpeg"] = pil("JPEG", quality=90, exif=exif.tobytes())
    for name, compression, samples in (("tiff", None, rgb), ("tiff-zlib", "zlib", rgb.astype(np.uint16) * 257)):
        buf = _stdio.BytesIO()
        tifffile.imwrite(buf, samples, photometric="rgb", compression=compression, rowsperstrip=8)
        seeds[name] = buf.getvalue()
    seeds["webp"] = pil("WEBP", quality=80)
    seeds["bmp"] = pil("BMP")
    return seeds


def _repair_png_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every complete chunk (the damage stays, the checksums agree)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return data
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        (length,) = struct.unpack(">I", out[pos : pos + 4])
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _mutate_png_pixels(data: bytes, rng: np.random.Generator) -> bytes:
    """Damage the *inflated* scanlines (filter bytes included) and recompress them into one
    valid IDAT: the file passes every checksum, and the decoder meets the damage itself."""
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    try:
        raw = bytearray(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")))
    except zlib.error:
        return data
    if not raw:
        return data
    for _ in range(int(rng.integers(1, 9))):
        raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
    if rng.random() < 0.3:  # wrong length: rows missing or extra
        raw = raw[: int(rng.integers(0, len(raw)))] if rng.random() < 0.5 else raw + raw[: int(rng.integers(1, 64))]
    out, idat_done = [data[:8]], False
    for kind, body in chunks:
        if kind == b"IDAT":
            if not idat_done:
                out.append(_png_chunk(b"IDAT", zlib.compress(bytes(raw))))
                idat_done = True
            continue
        out.append(_png_chunk(kind, body))
    return b"".join(out)


def mutate(data: bytes, rng: np.random.Generator, *, fmt: str = "") -> bytes:
    """One mutant of ``data``: 1-3 random mutations (see the module docstring).

    Args:
        data: a valid file.
        rng: the campaign's generator (a seeded campaign gives the same mutants every run).
        fmt: the seed's entry of :data:`FORMATS` (PNG mutants may get their CRCs repaired).

    Returns:
        The mutated bytes (never longer than ``2 * len(data) + 64``).
    """
    if fmt.startswith("png") and rng.random() < 0.3:
        return _mutate_png_pixels(data, rng)
    d = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not d:
            break
        kind = int(rng.integers(0, 6))
        at = int(rng.integers(0, len(d)))
        if kind == 0:  # flip bits
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, len(d)))
                d[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # overwrite bytes with random values
            n = int(rng.integers(1, 9))
            d[at : at + n] = rng.integers(0, 256, size=len(d[at : at + n]), dtype=np.uint8).tobytes()
        elif kind == 2:  # an interesting integer over a (likely) header field, either byte order
            value = int(_INTERESTING[int(rng.integers(0, len(_INTERESTING)))])
            width = int((1, 2, 4)[int(rng.integers(0, 3))])
            order = "<>"[int(rng.integers(0, 2))]
            code = {1: "B", 2: "H", 4: "I"}[width]
            packed = struct.pack(order + code, value & ((1 << (8 * width)) - 1))
            at = int(rng.integers(0, min(len(d), 512)))  # headers live near the start
            d[at : at + width] = packed[: len(d) - at]
        elif kind == 3:  # truncate
            d = d[: max(1, at)]
        elif kind == 4:  # repeat a block
            n = int(rng.integers(1, 65))
            src = int(rng.integers(0, len(d)))
            if len(d) + n <= 2 * len(data) + 64:
                d[at:at] = d[src : src + n]
        else:  # delete a block
            n = int(rng.integers(1, 65))
            del d[at : at + n]
    out = bytes(d)
    if fmt.startswith("png") and rng.random() < 0.5:
        out = _repair_png_crcs(out)
    return out


@dataclass
class FuzzReport:
    """What a campaign found.

    Attributes:
        counts: ``{format: {"decoded": n, "refused": n}}``.
        findings: one dict per contract breach (``format``, ``case``, ``problem``, ``detail``),
            at most ``max_findings`` kept; ``breaches`` counts them all.
        seconds: wall time of the campaign.
    """

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
    breaches: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(c["decoded"] + c["refused"] for c in self.counts.values()) + self.breaches


class _LogCollector(logging.Handler):
    """Catches every log record any library emits while a campaign runs (each one would be
    a line on stderr that names no file)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _check_image(image, name: str) -> str | None:
    a = image.array
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.ndim != 3 or a.shape[2] != 3:
        return f"array is {getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}, not float32 HxWx3"
    if a.shape[0] < 1 or a.shape[1] < 1:
        return f"empty array {a.shape}"
    if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
        return "values outside [0, 1] or not finite"
    if image.bits not in (8, 16):
        return f"bits {image.bits}"
    if image.path != name:
        return f"path {image.path!r} is not the name given ({name!r})"
    return None


def fuzz_readers(
    iterations: int = 100,
    *,
    seed: int = 0,
    formats: tuple[str, ...] = FORMATS,
    max_pixels: int = 4_000_000,
    max_findings: int = 50,
) -> FuzzReport:
    """Run a seeded campaign: ``iterations`` mutants of each seed format.

    Args:
        iterations: mutants per format.
        seed: the campaign seed (same seed, same mutants, same report).
        formats: a subset of :data:`FORMATS`.
        max_pixels: the readers' decompression-bomb limit during the campaign (a mutant header
            may claim any size; the limit keeps the campaign's memory small).
        max_findings: findings kept in the report (all are counted).

    Returns:
        :class:`FuzzReport`.
    """
    from blurmap.errors import ImageReadError
    from blurmap.io import read_image_bytes

    seeds = seed_files()
    unknown = sorted(set(formats) - set(seeds))
    if unknown:
        raise ValueError(f"unknown fuzz formats {unknown}; choose from {', '.join(FORMATS)}")
    rng = np.random.default_rng(seed)
    report = FuzzReport()
    collector = _LogCollector()
    root = logging.getLogger()
    start = time.perf_counter()

    def breach(fmt: str, case: int, problem: str, detail: str) -> None:
        report.breaches += 1
        if len(report.findings) < max_findings:
            report.findings.append({"format": fmt, "case": case, "problem": problem, "detail": detail})

    root.addHandler(collector)
    try:
        for fmt in formats:
            counts = report.counts.setdefault(fmt, {"decoded": 0, "refused": 0})
            for case in range(iterations):
                data = mutate(seeds[fmt], rng, fmt=fmt)
                name = f"fuzz-{fmt}-{case}"
                collector.records.clear()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        image = read_image_bytes(data, name, max_pixels=max_pixels)
                    except ImageReadError as err:
                        counts["refused"] += 1
                        if not str(err).startswith(name) or "\n" in str(err):
                            breach(fmt, case, "error message does not name the file in one line", str(err))
                        image = None
                    except Exception as ex:  # noqa: BLE001 - this is what the campaign looks for
                        tb = traceback.extract_tb(ex.__traceback__)[-1]
                        where = f"{tb.filename.rsplit('/', 1)[-1]}:{tb.lineno}"
                        breach(fmt, case, f"raised {type(ex).__name__}", f"{str(ex)[:200]} (at {where})")
                        continue
                if image is not None:
                    problem = _check_image(image, name)
                    if problem:
                        breach(fmt, case, "bad decoded image", problem)
                    else:
                        counts["decoded"] += 1
                for w in caught:
                    if not str(w.message).startswith(name) or "\n" in str(w.message):
                        breach(fmt, case, f"warning that names no file ({w.category.__name__})", str(w.message)[:200])
                for record in collector.records:
                    if record.levelno >= logging.WARNING:
                        breach(fmt, case, f"log line from {record.name!r}", record.getMessage()[:200])
    finally:
        root.removeHandler(collector)
    report.seconds = time.perf_counter() - start
    return report
