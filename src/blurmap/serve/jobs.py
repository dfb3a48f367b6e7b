"""The work behind each endpoint, run on a worker of the pool (:mod:`blurmap.serve.pool`).

Each job reads its upload(s) from memory, decodes them with :func:`blurmap.io.read_image_bytes`
(the CLI's checks and messages: empty, truncated, not an image, decompression bomb), runs the
model through :mod:`blurmap.api` and encodes the answer in memory: no upload and no client-given
name ever touches the filesystem. A job returns a :class:`Reply`; errors are raised as
:class:`~blurmap.errors.BlurmapError` (400) or :class:`~blurmap.serve.errors.ServeError`.

``fmt="json"`` (what the page asks for) answers with the images as ``data:`` URLs plus what
the page shows around them: the 8-bit preview of the upright input (for the before/after
slider), the colour-mapped map and its colour bar (colours, range, label).
"""

from __future__ import annotations

import base64
import io as _stdio
import json
import re
import time
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from blurmap.errors import BlurmapError
from blurmap.serve.errors import ServeError
from blurmap.serve.models import ServedModel
from blurmap.serve.pool import Job

#: colours sent per colour bar (the page draws a CSS gradient through them)
COLORBAR_STOPS = 11
MAP_LABELS = {"mask": "blur probability", "coc": "signed CoC radius (px); + behind focus"}


@dataclass
class Upload:
    """An uploaded file: a safe label for messages and the (spooled) file object to read."""

    name: str
    file: BinaryIO

    def read(self, limit: int) -> bytes:
        self.file.seek(0)
        data = self.file.read(limit + 1)
        if len(data) > limit:  # the body limit already stops this; kept as a second guard
            raise ServeError(413, f"{self.name}: upload over the limit of {limit / 1e6:g} MB (--max-upload-mb)")
        return data


@dataclass
class Reply:
    """What an endpoint sends: ``body`` with ``media_type``, and ``headers``."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_name(filename: str | None, default: str = "upload") -> str:
    """A label for a client-given file name: its last path part, printable ASCII, <= 80 chars.

    >>> safe_name("../../etc/pass\\nwd.png"), safe_name(None), safe_name("C:\\\\photos\\\\été.jpg")
    ('pass_wd.png', 'upload', '_t_.jpg')
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:80] or default


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _header_text(lines: list[str]) -> str:
    """Warning lines as one header value: printable ASCII only (a decoder's message may quote
    bytes of the file; a control character would make the header invalid)."""
    text = " | ".join(lines)
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:1000]


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _colorbar(kind: str, values: np.ndarray) -> dict:
    """Colours and range of the colour map :func:`blurmap.api.colorize_map` uses for ``values``."""
    from blurmap.api import colorize_map

    if kind == "mask":
        lo, hi = 0.0, 1.0
    else:  # colorize_map's "coc" scale: [-L, L], L = max(1, max |CoC|)
        hi = max(1.0, float(np.abs(values).max()) if values.size else 1.0)
        lo = -hi
    ramp = np.linspace(lo, hi, COLORBAR_STOPS, dtype=np.float32)[None]
    colours = colorize_map(ramp, kind)[0]
    hexes = ["#%02x%02x%02x" % tuple(int(round(float(c) * 255)) for c in rgb) for rgb in colours]
    return {"kind": kind, "min": lo, "max": hi, "label": MAP_LABELS[kind], "colors": hexes}


def _decode(upload: Upload, max_upload: int, max_pixels: int, warnings_out: list[str]):
    from blurmap.io import read_image_bytes

    return read_image_bytes(upload.read(max_upload), upload.name, max_pixels=max_pixels, warn=warnings_out.append)


def _timing_headers(model: ServedModel, job: Job, started: float, warnings_out: list[str]) -> dict[str, str]:
    seconds = time.perf_counter() - started
    headers = {
        "X-Blurmap-Model": model.name,
        "X-Blurmap-Network": model.network,
        "X-Blurmap-Seconds": f"{seconds:.3f}",
        "X-Blurmap-Queue-Seconds": f"{job.queued_seconds:.3f}",
        "Server-Timing": f"queue;dur={job.queued_seconds * 1000:.1f}, run;dur={seconds * 1000:.1f}",
    }
    if warnings_out:
        headers["X-Blurmap-Warnings"] = _header_text(warnings_out)
    return headers


def _json_reply(payload: dict, headers: dict[str, str]) -> Reply:
    return Reply(json.dumps(payload).encode(), "application/json", headers)


def _png_reply(png: bytes, filename: str, headers: dict[str, str]) -> Reply:
    return Reply(png, "image/png", {**headers, "Content-Disposition": f'inline; filename="{filename}"'})


def deblur_job(job: Job, model: ServedModel, upload: Upload, *, precision: str, gate: bool, fmt: str,
               max_upload: int, max_pixels: int) -> Reply:
    """``POST /v1/deblur``: the restored image as a PNG at the input's bit depth, size and
    (upright) orientation, with its ICC profile; a grey input comes back grey."""
    from blurmap.api import colorize_map
    from blurmap.batch import is_grey
    from blurmap.io import encode_image

    started = time.perf_counter()
    if gate and not model.can_gate:
        raise BlurmapError(f"gate needs a model with a blur mask (e.g. local); {model.name!r} has none")
    deblurrer = model.at_precision(precision)
    notes: list[str] = []
    image = _decode(upload, max_upload, max_pixels, notes)
    job.check()
    bits, icc, grey = image.bits, image.icc_profile, is_grey(image.array)
    out = deblurrer.predict(image.array, on_tile=job.check, gate=gate)
    restored = out["image"].mean(axis=2) if grey else out["image"]
    png = encode_image(restored, "png", bits=bits, icc_profile=icc)
    headers = {**_timing_headers(model, job, started, notes), "X-Blurmap-Bits": str(bits)}
    if gate:
        headers["X-Blurmap-Gate"] = "on"
    if fmt == "png":
        return _png_reply(png, f"{_stem(upload.name)}_deblurred.png", headers)
    payload = {
        "model": model.name, "network": model.network, "width": image.width, "height": image.height,
        "bits": bits, "gate": gate, "seconds": float(headers["X-Blurmap-Seconds"]), "warnings": notes,
        "input": _data_url(encode_image(image.array, "png", bits=8, icc_profile=icc)),
        "image": _data_url(png), "map": None, "colorbar": None,
    }
    if "map" in out and model.map_kind:
        payload["map"] = _data_url(encode_image(colorize_map(out["map"], model.map_kind), "png", bits=8))
        payload["colorbar"] = _colorbar(model.map_kind, out["map"])
    return _json_reply(payload, headers)


def blur_mask_job(job: Job, model: ServedModel, upload: Upload, *, bits: int, fmt: str,
                  max_upload: int, max_pixels: int) -> Reply:
    """``POST /v1/blur-mask``: the LBP blur probability as a grey PNG (white = blurred)."""
    from blurmap.api import blur_mask, colorize_map
    from blurmap.io import encode_image

    started = time.perf_counter()
    if not model.has_mask:
        raise BlurmapError(f"model {model.name!r} predicts no blur mask; use a local-blur model (e.g. local)")
    notes: list[str] = []
    image = _decode(upload, max_upload, max_pixels, notes)
    job.check()
    mask = blur_mask(image.array, weights=model.deblurrer)
    headers = _timing_headers(model, job, started, notes)
    if fmt == "png":
        return _png_reply(encode_image(mask, "png", bits=bits), f"{_stem(upload.name)}_mask.png", headers)
    payload = {
        "model": model.name, "network": model.network, "width": image.width, "height": image.height,
        "seconds": float(headers["X-Blurmap-Seconds"]), "warnings": notes,
        "input": _data_url(encode_image(image.array, "png", bits=8, icc_profile=image.icc_profile)),
        "image": None, "map": _data_url(encode_image(colorize_map(mask, "mask"), "png", bits=8)),
        "colorbar": _colorbar("mask", mask),
    }
    return _json_reply(payload, headers)


def defocus_map_job(job: Job, model: ServedModel, left: Upload, right: Upload, *, fmt: str, device: str,
                    max_upload: int, max_pixels: int) -> Reply:
    """``POST /v1/defocus-map``: signed CoC (px) from two dual-pixel views, as ``.npy``
    (float32 ``HxW``) or a colour-mapped PNG (``X-Blurmap-Map-Range`` gives its scale)."""
    from blurmap.api import colorize_map, estimate_defocus_map
    from blurmap.io import encode_image

    started = time.perf_counter()
    notes: list[str] = []
    lv = _decode(left, max_upload, max_pixels, notes)
    rv = _decode(right, max_upload, max_pixels, notes)
    if lv.array.shape != rv.array.shape:
        raise BlurmapError(
            f"{right.name}: right view is {rv.width}x{rv.height} px but the left view {left.name} is {lv.width}x{lv.height}"
        )
    job.check()
    coc = np.asarray(estimate_defocus_map(lv.array, rv.array, weights=model.path, device=device), np.float32)
    job.check()
    headers = _timing_headers(model, job, started, notes)
    bar = _colorbar("coc", coc)
    headers["X-Blurmap-Map-Range"] = f"{bar['min']:.4g},{bar['max']:.4g}"
    stem = _stem(left.name)
    if fmt == "npy":
        buf = _stdio.BytesIO()
        np.save(buf, coc, allow_pickle=False)
        return Reply(buf.getvalue(), "application/octet-stream",
                     {**headers, "Content-Disposition": f'attachment; filename="{stem}_defocus.npy"'})
    png = encode_image(colorize_map(coc, "coc"), "png", bits=8)
    if fmt == "png":
        return _png_reply(png, f"{stem}_defocus.png", headers)
    payload = {
        "model": model.name, "network": model.network, "width": lv.width, "height": lv.height,
        "seconds": float(headers["X-Blurmap-Seconds"]), "warnings": notes,
        "input": _data_url(encode_image(lv.array, "png", bits=8, icc_profile=lv.icc_profile)),
        "image": None, "map": _data_url(png), "colorbar": bar,
        "coc_min": float(coc.min()), "coc_max": float(coc.max()),
    }
    return _json_reply(payload, headers)
