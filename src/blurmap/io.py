"""Read and write images: 8/16-bit PNG, JPEG, TIFF, with clear one-line errors.

Reading gives float32 ``HxWx3`` arrays in ``[0, 1]`` and remembers the source bit depth so a
tool can write its output at the same depth. What the reader does, in order:

1. refuses a missing, empty or unrecognised file (:class:`~blurmap.errors.ImageReadError`);
2. reads the pixel count from the header and refuses *decompression bombs* before decoding
   anything (limit ``max_pixels``, default 200 MP, or the ``BLURMAP_MAX_PIXELS`` env var);
3. decodes: 16-bit PNG with OpenCV (Pillow cannot hold 48-bit RGB), other PNG/JPEG/... with
   Pillow, TIFF with tifffile; a truncated or corrupt stream is an error, never half an image;
4. applies the EXIF (or TIFF) orientation tag so the array is upright as viewers show it;
5. grey -> 3 equal channels; an alpha channel is dropped with a ``warnings.warn`` naming the file.

Files and bytes (:func:`read_image_bytes`, for uploads) take the same path. The readers are
fuzzed (:mod:`blurmap.bench.fuzz`): a damaged or hostile file is decoded or refused with
:class:`~blurmap.errors.ImageReadError`, never another exception, and every warning a decoder
raises on the way (tifffile's log lines included) comes out as one line naming the file.

Writing is atomic: the whole file is encoded in memory, written to a temp file in the target
folder, fsync'ed and renamed over the destination, so a failure never leaves a partial file.
"""

from __future__ import annotations

import contextlib
import glob
import io as _stdio
import logging
import os
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from blurmap.errors import ImageReadError, ImageWriteError
from blurmap.files import write_bytes_atomic

__all__ = [
    "Image",
    "read_image",
    "read_image_bytes",
    "write_image",
    "encode_image",
    "image_to_tensor",
    "array_to_chw",
    "tensor_to_image",
    "list_images",
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
]

DEFAULT_MAX_PIXELS = 200_000_000
MAX_PIXELS_ENV = "BLURMAP_MAX_PIXELS"

# Extensions list_images picks up from folders and globs (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_TIFF_EXT = (".tif", ".tiff")
_JPEG_EXT = (".jpg", ".jpeg")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic + BigTIFF


@dataclass
class Image:
    """A decoded image.

    Attributes:
        array: float32 ``(H, W, 3)`` in ``[0, 1]``, sRGB-encoded as stored, upright.
        bits: bit depth of the source samples, 8 or 16 (quantisation step ``1/(2**bits-1)``).
        path: the file it was read from.
        icc_profile: the embedded ICC profile bytes, or ``None``. Pixels are NOT colour-managed;
            pass this to :func:`write_image` to keep the profile on output.
        exif_orientation_applied: the EXIF/TIFF orientation tag (1-8) that was applied; 1 means
            the stored pixels were already upright (or there was no tag).
        had_alpha: the file had an alpha channel, which was dropped.
        format: decoder-level format name, e.g. ``"PNG"``, ``"JPEG"``, ``"TIFF"``.
    """

    array: np.ndarray
    bits: int
    path: str
    icc_profile: bytes | None = None
    exif_orientation_applied: int = 1
    had_alpha: bool = False
    format: str = ""

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])


# ----------------------------------------------------------------------------------- reading


def _resolve_max_pixels(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get(MAX_PIXELS_ENV)
    if env:
        try:
            value = int(float(env))
        except ValueError:
            raise ImageReadError(MAX_PIXELS_ENV, f"not a number: {env!r}") from None
        if value <= 0:
            raise ImageReadError(MAX_PIXELS_ENV, f"must be positive, got {env!r}")
        return value
    return DEFAULT_MAX_PIXELS


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"invalid image size {width}x{height} in header")
    if width * height > max_pixels:
        raise ImageReadError(
            path,
            f"refusing to decode {width}x{height} = {width * height:,} pixels "
            f"(limit {max_pixels:,}; raise max_pixels or {MAX_PIXELS_ENV} if you trust the file)",
        )


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright according to an EXIF/TIFF orientation tag.

    Args:
        array: ``(H, W)`` or ``(H, W, C)`` pixels as stored in the file.
        orientation: tag value 1..8 (anything else is treated as 1).

    Returns:
        The upright array (a view when possible), ``(W, H, ...)`` for tags 5-8.
    """
    # Same transforms as PIL.ImageOps.exif_transpose (tested against it).
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:  # transpose (swap axes)
        return np.swapaxes(array, 0, 1)
    if orientation == 6:  # stored rotated 90 deg counter-clockwise: rotate clockwise
        return np.rot90(array, -1)
    if orientation == 7:  # transverse
        return np.swapaxes(array, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _to_rgb(path: Path, samples: np.ndarray, *, channel_order: str = "RGB") -> tuple[np.ndarray, bool]:
    """Integer samples ``(H,W[,C])`` -> ``(H,W,3)`` with alpha dropped (warned)."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if samples.ndim != 3:
        raise ImageReadError(path, f"unsupported array shape {samples.shape}")
    channels = samples.shape[2]
    had_alpha = channels in (2, 4)
    if had_alpha:
        warnings.warn(f"{path}: alpha channel dropped (image read as RGB)", stacklevel=3)
    if channels in (1, 2):
        rgb = np.repeat(samples[:, :, :1], 3, axis=2)
    elif channels in (3, 4):
        rgb = samples[:, :, :3]
        if channel_order == "BGR":
            rgb = rgb[:, :, ::-1]
    else:
        raise ImageReadError(path, f"unsupported number of channels: {channels}")
    return rgb, had_alpha


def _png_header(path: Path, head: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ImageReadError(path, "truncated or corrupt PNG header")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


# Adam7 passes: (x0, y0, dx, dy).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: the bit depths the PNG spec allows per colour type
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: libpng's default limit on a side (PNG_USER_WIDTH_MAX / PNG_USER_HEIGHT_MAX)
_LIBPNG_MAX_SIDE = 1_000_000
#: decompressed bytes looked at per step while checking a PNG stream (bounded memory)
_PNG_CHECK_BLOCK = 1 << 20


def _png_rows(width: int, height: int, depth: int, colour: int, interlace: int) -> list[tuple[int, int]]:
    """``(bytes per scanline incl. the filter byte, number of scanlines)`` per (Adam7) pass."""
    bits_per_pixel = depth * _PNG_CHANNELS[colour]
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    rows = []
    for x0, y0, dx, dy in passes:
        cols, nrows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and nrows > 0:
            rows.append((1 + (cols * bits_per_pixel + 7) // 8, nrows))
    return rows


def _png_for_opencv(path: Path, data: bytes) -> bytes:
    """Check a PNG's chunks and pixel stream; return it with its critical chunks only.

    libpng inside OpenCV prints what it dislikes to stderr (lines naming no file) and
    OpenCV then only returns None, so everything libpng would complain about is checked
    here first, with a reason: every chunk complete with a correct CRC up to IEND; the zlib
    stream inflating cleanly to exactly the bytes the header promises; every scanline
    starting with a valid filter type (0-4). The ancillary chunks (ICC profile, text, gamma,
    ...) are left out of the copy OpenCV decodes: the ICC profile is read by Pillow, OpenCV
    uses none of them, and damage in them would be more libpng lines. The inflated stream is
    walked in blocks of :data:`_PNG_CHECK_BLOCK` bytes, so memory stays small for any size.

    Returns:
        signature + IHDR + the IDAT chunks + IEND, byte for byte as in ``data``.

    Raises:
        ImageReadError: what is wrong, naming the file.
    """
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise ImageReadError(
            path, f"corrupt PNG header (colour type {colour}, bit depth {depth}, compression {compression}, "
            f"filter {filtering}, interlace {interlace})"
        )
    if max(width, height) > _LIBPNG_MAX_SIDE:
        raise ImageReadError(path, f"{width}x{height} px: a side above {_LIBPNG_MAX_SIDE:,} px (libpng's limit)")
    # (first byte, end, scanline length) of each pass in the inflated stream
    bounds, offset = [], 0
    for stride, nrows in _png_rows(width, height, depth, colour, interlace):
        bounds.append((offset, offset + stride * nrows, stride))
        offset += stride * nrows
    expected = offset
    # The chunk layout first: libpng reads up to a complete IEND and fails noisily without it.
    idats: list[tuple[int, int]] = []  # (start, end) of each IDAT payload
    critical: list[bytes] = [data[:8]]  # signature, IHDR, IDAT..., IEND (whole chunks)
    pos, ended = 8, False
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + length > len(data):
            break
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(data[pos + 4 : pos + 8 + length]) != crc:  # Pillow's verify() skips IEND's
            raise ImageReadError(path, f"corrupt PNG ({kind.decode('latin-1')!r} chunk fails its CRC)")
        if kind == b"IDAT":
            idats.append((pos + 8, pos + 8 + length))
        if kind in (b"IHDR", b"IDAT", b"IEND"):
            critical.append(data[pos : pos + 12 + length])
        pos += 12 + length
        if kind == b"IEND":
            ended = True
            break
    if not ended:
        raise ImageReadError(path, "truncated PNG (no complete IEND chunk at the end)")
    inflater = zlib.decompressobj()
    produced = 0  # inflated bytes seen so far
    seg, row_start = 0, 0  # current pass, and the offset of its next scanline's filter byte
    try:
        for start, stop_idat in idats:
            if inflater.eof:  # libpng warns about IDAT data after the stream's end
                raise ImageReadError(path, "corrupt PNG data (data after the end of the compressed pixels)")
            pending = data[start:stop_idat]
            while pending and not inflater.eof:
                block = inflater.decompress(pending, _PNG_CHECK_BLOCK)
                pending = inflater.unconsumed_tail
                end = produced + len(block)
                if end > expected:
                    raise ImageReadError(path, "corrupt PNG data (more pixel data than the header's size)")
                while seg < len(bounds) and row_start < end:
                    stop = min(end, bounds[seg][1])
                    stride = bounds[seg][2]
                    filters = np.frombuffer(block, np.uint8)[row_start - produced : stop - produced : stride]
                    if filters.size and int(filters.max()) > 4:
                        raise ImageReadError(path, f"corrupt PNG data (bad scanline filter type {int(filters.max())})")
                    row_start += stride * filters.size
                    if row_start >= bounds[seg][1]:
                        seg += 1
                        row_start = bounds[seg][0] if seg < len(bounds) else expected
                produced = end
            if inflater.unused_data:
                raise ImageReadError(path, "corrupt PNG data (data after the end of the compressed pixels)")
    except zlib.error as ex:
        raise ImageReadError(path, f"corrupt PNG data ({_short(ex)})") from None
    if produced < expected or not inflater.eof:
        raise ImageReadError(path, f"truncated PNG data ({produced:,} of {expected:,} bytes of pixels)")
    return b"".join(critical)


def _read_png16(path: Path, data: bytes) -> np.ndarray:
    """Decode a 16-bit PNG with OpenCV (keeps all 16 bits). Returns RGB-ordered samples."""
    import cv2

    # Pillow's verify() walks every chunk and checks its CRC: it catches truncation and
    # corruption that libpng inside OpenCV may only report as a warning.
    from PIL import Image as PILImage

    try:
        with PILImage.open(_stdio.BytesIO(data)) as im:
            im.verify()
    except Exception as ex:  # noqa: BLE001 - any decoder failure is a bad file
        raise ImageReadError(path, f"truncated or corrupt PNG ({_short(ex)})") from None
    buf = np.frombuffer(_png_for_opencv(path, data), dtype=np.uint8)
    samples = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if samples is None:
        raise ImageReadError(path, "truncated or corrupt PNG (OpenCV could not decode it)")
    if samples.dtype != np.uint16:
        raise ImageReadError(path, f"unexpected sample type {samples.dtype} in 16-bit PNG")
    if samples.ndim == 3:
        # OpenCV returns BGR / BGRA; swap to RGB(A) keeping the alpha last.
        samples = samples[:, :, [2, 1, 0, 3][: samples.shape[2]]] if samples.shape[2] in (3, 4) else samples
    return samples


def _short(ex: BaseException) -> str:
    text = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    return text[:160]


def _pil_open(path: Path, data: bytes):
    """Open with Pillow reading only the header; Pillow's own bomb check is disabled because
    :func:`read_image` applies its own (configurable) limit before decoding."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    old = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None
    try:
        return PILImage.open(_stdio.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised file format)") from None
    except Exception as ex:  # noqa: BLE001
        raise ImageReadError(path, f"corrupt image header ({_short(ex)})") from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = old


def _exif_orientation(pil_image) -> int:
    try:
        value = int(pil_image.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - broken EXIF is not worth refusing the image for
        return 1
    return value if 1 <= value <= 8 else 1


def _read_with_pillow(path: Path, data: bytes, max_pixels: int) -> Image:
    im = _pil_open(path, data)
    with im:
        fmt = im.format or ""
        _check_pixels(path, im.width, im.height, max_pixels)
        orientation = _exif_orientation(im)
        icc = im.info.get("icc_profile") or None
        if fmt == "PNG":
            _, _, depth, _ = _png_header(path, data[:33])
            if depth == 16:
                samples = _read_png16(path, data)
                rgb, had_alpha = _to_rgb(path, samples)
                return _finish(path, rgb, 16, icc, orientation, had_alpha, fmt)
        try:
            im.load()
        except Exception as ex:  # noqa: BLE001
            raise ImageReadError(path, f"truncated or corrupt {fmt or 'image'} data ({_short(ex)})") from None
        mode = im.mode
        bits = 8
        if mode == "1":
            im = im.convert("L")
        elif mode == "P" or mode == "PA":
            im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        elif mode.startswith("I;16"):
            bits = 16
        elif mode in ("L", "LA", "RGB", "RGBA", "RGBa", "La"):
            pass
        else:
            raise ImageReadError(path, f"unsupported pixel mode {mode!r} (expected 8/16-bit grey or RGB)")
        samples = np.asarray(im)
        if bits == 16:
            samples = samples.astype(np.uint16)
        rgb, had_alpha = _to_rgb(path, samples)
        return _finish(path, rgb, bits, icc, orientation, had_alpha, fmt)


class _TifffileLogCapture(logging.Filter):
    """Routes tifffile's log records to the reading thread instead of stderr.

    tifffile reports damage it can read past (a bad tag, a missing byte count) with
    ``logging`` warnings that name no file; in a batch they are lines nobody can place.
    While a thread reads a TIFF, its records are collected here (and dropped from the log);
    :func:`_read_tiff` turns them into one warning that names the file. Other threads and
    other uses of tifffile log as usual. Installed once on the ``tifffile`` logger.
    """

    def __init__(self):
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        sink = getattr(self._local, "sink", None)
        if sink is None:
            return True
        sink.append(record.getMessage().strip().replace("\n", " "))
        return False

    @contextlib.contextmanager
    def capture(self):
        logger = logging.getLogger("tifffile")
        if self not in logger.filters:
            logger.addFilter(self)
        previous = getattr(self._local, "sink", None)
        sink: list[str] = []
        self._local.sink = sink
        try:
            yield sink
        finally:
            self._local.sink = previous


_TIFFFILE_LOG = _TifffileLogCapture()


def _read_tiff(path: Path, data: bytes, max_pixels: int) -> Image:
    """Decode a TIFF; tifffile's complaints become one warning naming the file.

    tifffile is a pure-Python parser, so a hostile or damaged file can make any of its
    lines fail with any exception (fuzzing found ``TypeError`` from a size tag holding
    several values); every exception but our own is therefore a corrupt file.
    """
    with _TIFFFILE_LOG.capture() as complaints:
        try:
            image = _decode_tiff(path, data, max_pixels)
        except ImageReadError:
            raise
        except MemoryError:
            raise ImageReadError(path, "corrupt TIFF (a field asks for more memory than there is)") from None
        except Exception as ex:  # noqa: BLE001 - see the docstring
            raise ImageReadError(path, f"truncated or corrupt TIFF data ({_short(ex)})") from None
    if complaints:
        more = f" (and {len(complaints) - 1} more)" if len(complaints) > 1 else ""
        warnings.warn(f"{path}: damaged TIFF read anyway: {complaints[0][:160]}{more}", stacklevel=3)
    return image


def _tiff_int(path: Path, value, what: str) -> int:
    """A TIFF header value that must be one integer (a hostile file may store a tuple there)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise ImageReadError(path, f"corrupt TIFF header ({what} is {str(value)[:40]!r}, not one integer)")


def _decode_tiff(path: Path, data: bytes, max_pixels: int) -> Image:
    import tifffile

    try:
        tif = tifffile.TiffFile(_stdio.BytesIO(data))
    except Exception as ex:  # noqa: BLE001
        raise ImageReadError(path, f"corrupt TIFF header ({_short(ex)})") from None
    with tif:
        if not tif.pages:
            raise ImageReadError(path, "TIFF has no image pages")
        page = tif.pages[0]
        if not isinstance(page, tifffile.TiffPage):
            raise ImageReadError(path, "corrupt TIFF header (first page unreadable)")
        width = _tiff_int(path, page.imagewidth, "image width")
        height = _tiff_int(path, page.imagelength, "image length")
        _check_pixels(path, width, height, max_pixels)
        if page.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ImageReadError(path, f"unsupported TIFF sample type {page.dtype} (expected 8- or 16-bit integers)")
        # Pixels that are not in the file are not zeros: refuse instead of inventing them.
        offsets, counts = page.dataoffsets, page.databytecounts
        if not offsets or len(offsets) != len(counts) or any(
            int(o) <= 0 or int(c) <= 0 or int(o) + int(c) > len(data) for o, c in zip(offsets, counts)
        ):
            raise ImageReadError(path, "truncated or corrupt TIFF data (strips missing or outside the file)")
        bits = 8 if page.dtype == np.uint8 else 16
        tag = page.tags.get(34675)  # InterColorProfile
        icc = bytes(tag.value) if tag is not None and isinstance(tag.value, (bytes, bytearray)) else None
        orient_tag = page.tags.get(274)  # Orientation, same values as EXIF
        try:
            orientation = int(orient_tag.value) if orient_tag is not None else 1
        except (TypeError, ValueError):
            orientation = 1
        planar = int(getattr(page, "planarconfig", 1)) == 2  # SEPARATE: samples first
        try:
            samples = page.asarray()
        except Exception as ex:  # noqa: BLE001
            raise ImageReadError(path, f"truncated or corrupt TIFF data ({_short(ex)})") from None
    if planar and samples.ndim == 3:
        samples = np.moveaxis(samples, 0, -1)
    if samples.ndim >= 2 and samples.shape[:2] != (height, width):
        raise ImageReadError(path, f"corrupt TIFF (decoded {samples.shape} pixels for a {width}x{height} image)")
    rgb, had_alpha = _to_rgb(path, samples)
    return _finish(path, rgb, bits, icc, orientation if 1 <= orientation <= 8 else 1, had_alpha, "TIFF")


def _finish(path, rgb, bits, icc, orientation, had_alpha, fmt) -> Image:
    rgb = apply_orientation(rgb, orientation)
    # Divide (not multiply by a rounded reciprocal) so round(array * peak) gives back the
    # stored integers exactly: k / peak is correctly rounded in float32.
    array = np.ascontiguousarray(rgb, dtype=np.float32) / np.float32(2**bits - 1)
    return Image(
        array=array,
        bits=bits,
        path=str(path),
        icc_profile=icc,
        exif_orientation_applied=orientation,
        had_alpha=had_alpha,
        format=fmt,
    )


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> Image:
    """Read an image file into a float32 ``(H, W, 3)`` array in ``[0, 1]``.

    Args:
        path: PNG (8/16-bit), JPEG, TIFF (8/16-bit integer), or another format Pillow reads.
        max_pixels: refuse images with more pixels than this (checked from the header, before
            decoding). ``None`` means the ``BLURMAP_MAX_PIXELS`` env var if set, else 200 MP.

    Returns:
        :class:`Image` with ``array`` (float32, ``(H, W, 3)``, ``[0, 1]``, upright after the
        EXIF orientation), ``bits`` (8 or 16), ``path``, ``icc_profile`` and a few extras.

    Raises:
        ImageReadError: one line naming the file and the reason (missing, empty, truncated,
            not an image, unsupported channels or sample type, too many pixels).
    """
    p = Path(path)
    limit = _resolve_max_pixels(max_pixels)
    if not p.exists():
        raise ImageReadError(p, "no such file")
    if p.is_dir():
        raise ImageReadError(p, "is a folder, not an image file")
    try:
        data = p.read_bytes()
    except OSError as ex:
        raise ImageReadError(p, f"cannot read file ({ex.strerror or _short(ex)})") from None
    return _decode(p, data, limit)


def read_image_bytes(
    data: bytes, name: str = "<bytes>", *, max_pixels: int | None = None, warn: Callable[[str], None] | None = None
) -> Image:
    """Decode an image held in memory (an upload, a blob), with the checks of :func:`read_image`.

    Nothing touches the filesystem: ``name`` is only the label that error and warning lines
    start with and that :attr:`Image.path` holds (a client-given file name is safe here).

    Args:
        data: the complete file content.
        name: what to call the image in messages.
        max_pixels: decompression-bomb limit, as in :func:`read_image`.
        warn: called with each warning line (``"<name>: ..."``) instead of ``warnings.warn``;
            a server decoding in worker threads collects them this way per request.

    Returns:
        :class:`Image` (``path`` is ``name``).

    Raises:
        ImageReadError: ``"<name>: <reason>"``, the same reasons as :func:`read_image`.

    Example:
        >>> from blurmap.io import read_image_bytes
        >>> read_image_bytes(b"hello", "notes.png")
        Traceback (most recent call last):
        ...
        blurmap.errors.ImageReadError: notes.png: not an image (unrecognised file format)
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return _decode(str(name), bytes(data), _resolve_max_pixels(max_pixels), warn)


# One reader at a time may divert warnings (see _warnings_named): the warnings module's state
# is global, and two readers restoring it in the wrong order would lose each other's filters.
_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def _warnings_named(name: Path | str, warn: Callable[[str], None] | None = None):
    """Re-issue the warnings this thread raises while decoding ``name`` as named lines.

    The decoders warn about damage they read past ("Corrupt EXIF data", "Truncated File
    Read") without saying which file; in a batch those lines cannot be placed. Warnings
    that already start with the name (an alpha channel dropped) pass through as they are;
    the others are folded into one ``"<name>: <first> (and N more)"`` warning. A file that is
    refused gives only its error. Warnings other threads raise meanwhile are shown normally.
    With ``warn`` given, the lines go to it instead of to ``warnings.warn``.
    """
    me = threading.get_ident()
    prefix = f"{name}:"
    named: list[tuple[str, type]] = []
    other: list[str] = []
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("always")  # every file gets its line, not only the first
        passthrough = warnings.showwarning

        def divert(message, category, filename, lineno, file=None, line=None):
            if threading.get_ident() != me:
                return passthrough(message, category, filename, lineno, file, line)
            text = " ".join(str(message).split())
            if text.startswith(prefix):
                named.append((text, category))
            elif text not in other:
                other.append(text)

        warnings.showwarning = divert
        yield
    lines = [(text, category) for text, category in named]
    if other:
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        lines.append((f"{prefix} damaged file read anyway: {other[0][:160]}{more}", UserWarning))
    for text, category in lines:
        if warn is not None:
            warn(text)
        else:
            warnings.warn(text, category, stacklevel=4)


def _decode(p: Path | str, data: bytes, limit: int, warn: Callable[[str], None] | None = None) -> Image:
    """Dispatch on the magic bytes (never the extension) and decode; warnings name ``p``."""
    with _warnings_named(p, warn):
        return _decode_any(p, data, limit)


def _decode_any(p: Path | str, data: bytes, limit: int) -> Image:
    if not data:
        raise ImageReadError(p, "empty file (0 bytes)")
    if data[:4] in _TIFF_MAGICS:
        return _read_tiff(p, data, limit)
    if data[:8] == _PNG_MAGIC:
        # Size straight from IHDR: a PNG cut inside its header fails here with a clear reason,
        # and a bomb is refused before Pillow or OpenCV see a single byte of pixel data.
        width, height, _, _ = _png_header(p, data[:33])
        _check_pixels(p, width, height, limit)
    return _read_with_pillow(p, data, limit)


# ----------------------------------------------------------------------------------- writing


#: samples quantised per block by :func:`_quantize` (8 MB of float64)
_QUANTIZE_BLOCK = 1 << 20


def _quantize(path: Path, array: np.ndarray, bits: int) -> np.ndarray:
    if bits not in (8, 16):
        raise ImageWriteError(f"{path}: bits must be 8 or 16, got {bits}")
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ImageWriteError(f"{path}: expected an HxWx3 or HxW array, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageWriteError(f"{path}: cannot write an empty {a.shape} image")
    if a.dtype.kind not in "fiub":
        raise ImageWriteError(f"{path}: unsupported array dtype {a.dtype}")
    peak = 2**bits - 1
    out = np.empty(a.shape, dtype=np.uint8 if bits == 8 else np.uint16)
    # Quantise in float64 (a float32 product x * peak rounds before np.round does, which moves
    # ~1 in 1000 16-bit samples by one level), but a block of rows at a time: a whole 24 MP
    # image in float64 would need ~0.6 GB per temporary.
    rows = max(1, _QUANTIZE_BLOCK // max(1, a[0].size))
    for r in range(0, a.shape[0], rows):
        block = a[r:r + rows].astype(np.float64)  # a copy: modified in place below
        if not np.isfinite(block).all():
            raise ImageWriteError(f"{path}: array contains NaN or infinity")
        np.clip(block, 0.0, 1.0, out=block)
        block *= peak
        out[r:r + rows] = np.round(block, out=block)
    return out


def _png_with_icc(png: bytes, icc_profile: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (PNG spec: before PLTE and IDAT)."""
    body = b"icc\x00\x00" + zlib.compress(icc_profile)  # name, NUL, compression method 0
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    ihdr_end = 8 + 8 + 13 + 4  # signature + (length, type) + IHDR data + CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def _encode(path: Path, samples: np.ndarray, bits: int, icc_profile: bytes | None) -> bytes:
    ext = path.suffix.lower()
    if ext == ".png":
        import cv2

        bgr = samples[:, :, ::-1] if samples.ndim == 3 else samples
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise ImageWriteError(f"{path}: PNG encoding failed")
        data = buf.tobytes()
        return _png_with_icc(data, icc_profile) if icc_profile else data
    if ext in _TIFF_EXT:
        import tifffile

        out = _stdio.BytesIO()
        kwargs = {"photometric": "rgb" if samples.ndim == 3 else "minisblack"}
        if icc_profile:
            kwargs["iccprofile"] = icc_profile
        tifffile.imwrite(out, samples, compression="zlib", **kwargs)
        return out.getvalue()
    if ext in _JPEG_EXT:
        if bits != 8:
            raise ImageWriteError(f"{path}: JPEG holds only 8-bit samples (asked for {bits}); use .png or .tif")
        from PIL import Image as PILImage

        out = _stdio.BytesIO()
        kwargs = {"quality": 95, "subsampling": 0}
        if icc_profile:
            kwargs["icc_profile"] = icc_profile
        PILImage.fromarray(samples).save(out, format="JPEG", **kwargs)
        return out.getvalue()
    raise ImageWriteError(f"{path}: unsupported output extension {path.suffix!r} (use .png, .tif or .jpg)")


def encode_image(array: np.ndarray, fmt: str = "png", *, bits: int = 8, icc_profile: bytes | None = None) -> bytes:
    """The bytes :func:`write_image` would write, in memory (an HTTP response, a blob).

    Args:
        array: ``(H, W, 3)`` or ``(H, W)`` float in ``[0, 1]`` (RGB order), clipped and rounded
            as in :func:`write_image`.
        fmt: ``"png"``, ``"tif"``/``"tiff"`` or ``"jpg"``/``"jpeg"``.
        bits: 8 or 16 (JPEG: 8 only).
        icc_profile: ICC profile bytes to embed, or ``None``.

    Raises:
        ImageWriteError: bad array, bits or format.

    Example:
        >>> import numpy as np
        >>> from blurmap.io import encode_image, read_image_bytes
        >>> png = encode_image(np.full((4, 6, 3), 0.5, np.float32), bits=16)
        >>> im = read_image_bytes(png, "x.png")
        >>> im.bits, im.array.shape
        (16, (4, 6, 3))
    """
    p = Path(f"image.{fmt.lower().lstrip('.')}")
    return _encode(p, _quantize(p, array, bits), bits, icc_profile)


def write_image(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    bits: int = 8,
    icc_profile: bytes | None = None,
    overwrite: bool = True,
) -> None:
    """Write an image atomically as PNG (8/16-bit), TIFF (8/16-bit) or JPEG (8-bit).

    The format follows the extension. Values are clipped to ``[0, 1]`` and rounded to the
    nearest level (``round(x * (2**bits - 1))``), so ``read_image`` of the result gives back
    exactly the quantised values (16-bit PNG/TIFF round-trip bit-exactly).

    Args:
        path: ``.png``, ``.tif``/``.tiff`` or ``.jpg``/``.jpeg``; its folder must exist.
        array: ``(H, W, 3)`` or ``(H, W)`` float in ``[0, 1]`` (RGB order).
        bits: 8 or 16 (JPEG: 8 only). Pass ``Image.bits`` to keep the input's depth.
        icc_profile: ICC profile bytes to embed (e.g. ``Image.icc_profile``), or ``None``.
        overwrite: if False, refuse to replace an existing file.

    Raises:
        ImageWriteError: bad array (shape, NaN), bad bits/extension, folder missing, OS error.
            Nothing is written in that case.
    """
    p = Path(path)
    samples = _quantize(p, array, bits)
    data = _encode(p, samples, bits, icc_profile)
    write_bytes_atomic(p, data, overwrite=overwrite)


# ----------------------------------------------------------------------------------- tensors


def image_to_tensor(array: np.ndarray):
    """``(H, W, 3)`` (or ``(H, W)``) array -> float32 tensor ``(1, 3, H, W)``.

    Args:
        array: image in ``[0, 1]`` (values are not clipped).

    Returns:
        torch.Tensor ``(1, 3, H, W)`` float32, contiguous, on CPU.
    """
    import torch

    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) or (H, W) array, got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].contiguous()


def array_to_chw(array: np.ndarray):
    """``(H, W, C)`` or ``(H, W)`` array -> contiguous float32 tensor ``(C, H, W)`` / ``(1, H, W)``.

    Unlike :func:`image_to_tensor` there is no batch axis and a 2-D array stays one channel
    (CoC maps, masks); dataset items use this form.
    """
    import torch

    a = array if array.ndim == 3 else array[..., None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))


def tensor_to_image(tensor) -> np.ndarray:
    """``(B, 3, H, W)`` or ``(3, H, W)`` tensor -> float32 ``(H, W, 3)`` numpy array.

    Takes the first batch item, detaches and moves it to the CPU. Values are not clipped
    (:func:`write_image` clips to ``[0, 1]``).
    """
    t = tensor.detach()
    if t.ndim == 4:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (B, 3, H, W) or (3, H, W) tensor, got shape {tuple(tensor.shape)}")
    return np.ascontiguousarray(t.float().cpu().numpy().transpose(1, 2, 0))


# ----------------------------------------------------------------------------------- listing


def list_images(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a list of image files.

    Args:
        inputs: one or several paths. A file is taken as is (whatever its extension); a
            folder gives its image files (by extension, not recursive, sorted); anything else
            is a glob pattern (``**`` allowed) whose matching image files are taken, sorted.

    Returns:
        Paths in input order, duplicates removed.

    Raises:
        ImageReadError: an input is neither a file, a folder nor a pattern matching images.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.append(p)

    for item in inputs:
        p = Path(item)
        if p.is_file():
            add(p)
        elif p.is_dir():
            files = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise ImageReadError(p, "folder contains no images")
            for q in files:
                add(q)
        else:
            matches = sorted(
                Path(m) for m in glob.glob(str(item), recursive=True)
                if Path(m).is_file() and Path(m).suffix.lower() in IMAGE_EXTENSIONS
            )
            if not matches:
                reason = "no images match this pattern" if glob.has_magic(str(item)) else "no such file or folder"
                raise ImageReadError(p, reason)
            for q in matches:
                add(q)
    return found
