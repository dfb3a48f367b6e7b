"""Tiled inference: run a restoration model on images of any size in bounded memory.

The image is cut into overlapping tiles; each tile goes through the model on its own and
the outputs are cross-faded back into image-sized float32 buffers. Only one tile lives on
the device at a time, so the peak memory is the tile's activations plus the image-sized
input/output buffers (24 MP x 3 x 4 B = 288 MB each), whatever the image size. An image
that fits in one tile takes the same code path (one tile, no blending).

Blending (per axis; the 2-D window is the outer product of the two 1-D windows):

* of the ``overlap`` pixels two neighbouring tiles share, the outer 3/8 on each side is
  *discarded* (weight 0): pixels at a tile's cut edge saw padding instead of the real
  neighbourhood, so they are wrong by up to the model's receptive field;
* the middle quarter is cross-faded with a raised-cosine (Hann) ramp. The two ramps of
  neighbouring tiles sum to exactly 1, so a flat region stays flat and there is no seam;
* sides of a tile that lie on the image border keep weight 1 (the untiled model sees the
  same border there).

Because the tile grid is a product of a row grid and a column grid and the window is
separable, the weight-sum map is the outer product of two 1-D sums; the final division
uses it without storing an HxW weight buffer.

Every output of ``model.predict()`` (``"image"`` and an optional ``"map"``) is blended the
same way. Models following the inference convention of :mod:`blurmap.models` expose
``receptive_field`` (px) and ``size_multiple``; each tile is reflect-padded to the multiple
and cropped back.

Tiling is exact (up to float rounding) for a model that is translation-equivariant within
``3 * overlap // 8`` px of context. Networks with *global* operations (the channel attention of
RCAB pools over the whole input) see per-tile statistics instead of whole-image ones, so
their tiled output differs slightly from the untiled one; the default tile (512 px or more)
keeps those statistics close to the image's.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from blurmap.errors import BlurmapError
from blurmap.models.padding import pad_to_multiple

PRECISIONS = ("fp32", "bf16", "fp16")
#: what ``precision=`` accepts: a precision, or "auto" (:func:`resolve_precision`)
PRECISION_CHOICES = ("auto",) + PRECISIONS

# Smallest image side the engine accepts. Below this a blur estimate has no neighbourhood
# to work with (every model's receptive field is tens of pixels) and the reflection
# padding to the model's multiple is undefined for 1-pixel sides.
MIN_IMAGE_SIDE = 8

# Used when a model does not declare its receptive field (documented in docs/inference.md).
FALLBACK_RECEPTIVE_FIELD = 64
DEFAULT_TILE = 512
# The background gate (``Deblurrer.predict(..., gate=True)``): the output is
# ``lerp(input, restored, gate_weight(p))`` with ``p`` the model's blur probability. Below
# GATE_LOW the input pixel is kept bit for bit; from GATE_HIGH on the restored pixel is used
# as it is; in between a linear ramp cross-fades, so the mask's soft edge leaves no seam.
# Why these two values: docs/inference.md ("Background gate") has the measurements.
GATE_LOW = 0.1
GATE_HIGH = 0.5
# Cap on the default overlap. Declared receptive fields are theoretical: DefocusGAN's counts
# every 3x3 conv of its 1/8-scale branches (~3100 px at paper size), far beyond where its
# output actually depends on the input; an uncapped overlap would make the default tile the
# whole image and memory unbounded. Measured effects of the cap: docs/inference.md.
MAX_DEFAULT_OVERLAP = 256


@dataclass(frozen=True)
class Tiling:
    """Tile size and overlap in pixels (both per axis).

    ``overlap`` is the number of pixels two neighbouring tiles share. 3/8 of it on each
    side is discarded and the middle quarter cross-faded (see the module docstring).
    """

    tile: int
    overlap: int

    def __post_init__(self):
        if self.tile < 16:
            raise BlurmapError(f"tile size {self.tile} px is too small (at least 16)")
        if self.overlap < 4:
            raise BlurmapError(f"overlap {self.overlap} px is too small (at least 4)")
        if 2 * self.overlap > self.tile:
            raise BlurmapError(
                f"overlap {self.overlap} px is more than half the tile ({self.tile} px); "
                "use a larger --tile or a smaller --overlap"
            )


def _round_up(x: int, m: int) -> int:
    return int(math.ceil(x / m) * m)


def model_receptive_field(model: nn.Module) -> int:
    """The model's ``receptive_field`` attribute in px, or the documented fallback."""
    rf = getattr(model, "receptive_field", None)
    return int(rf) if rf else FALLBACK_RECEPTIVE_FIELD


def model_size_multiple(model: nn.Module) -> int:
    """The model's ``size_multiple`` attribute (1 when it has none)."""
    return max(1, int(getattr(model, "size_multiple", 1) or 1))


def default_tiling(model: nn.Module) -> Tiling:
    """Default tile and overlap for a model.

    A model may set ``default_tile`` / ``default_overlap`` attributes; otherwise the overlap
    is the receptive field clamped to ``[32, MAX_DEFAULT_OVERLAP]`` px and the tile three
    times the overlap (at least 512 px), both rounded up to the model's size multiple. (The declared receptive fields are
    theoretical and much larger than the effective ones, so ``3/8`` of the field as
    context is plenty in practice; ``tests/test_infer.py`` and ``docs/inference.md`` have
    measurements.)

    Returns:
        :class:`Tiling`.
    """
    m = model_size_multiple(model)
    overlap = getattr(model, "default_overlap", None) or min(
        MAX_DEFAULT_OVERLAP, max(32, model_receptive_field(model))
    )
    overlap = _round_up(int(overlap), m)
    tile = getattr(model, "default_tile", None) or max(DEFAULT_TILE, 3 * overlap)
    tile = _round_up(max(int(tile), 2 * overlap), m)
    return Tiling(tile=tile, overlap=overlap)


def recommended_overlap(model: nn.Module) -> int:
    """The smallest overlap (px) that does not warn: the model's ``default_overlap`` when it
    declares one (a measured effective field), else its receptive field capped at
    :data:`MAX_DEFAULT_OVERLAP`."""
    declared = getattr(model, "default_overlap", None)
    if declared:
        return int(declared)
    return min(MAX_DEFAULT_OVERLAP, model_receptive_field(model))


def balanced_tile(length: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """Tile size along one axis that covers ``length`` with as few tiles as ``tile`` allows,
    all of about the same size.

    ``tile`` is the largest tile. With ``n = ceil((length - overlap) / (tile - overlap))``
    tiles, each one needs only ``ceil((length - overlap) / n) + overlap`` px (rounded up to
    ``multiple``); using that instead of ``tile`` keeps the count ``n`` and removes the pixels
    the last tile would otherwise compute twice (4000 px at tile 1024, overlap 128: 5 tiles of
    912 px instead of 5 of 1024 px).

    Returns:
        ``length`` when it fits in one tile, else a size in ``[2 * overlap, tile]``.
    """
    if length <= tile:
        return length
    n = math.ceil((length - overlap) / (tile - overlap))
    size = _round_up(math.ceil((length - overlap) / n) + overlap, multiple)
    return int(min(tile, max(size, 2 * overlap)))


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along one axis.

    Tiles advance by ``tile - overlap``; the last tile is moved back to end exactly at the
    image border (it then overlaps its neighbour by more than ``overlap``, which the
    blending handles). An axis not longer than ``tile`` is one tile.

    Args:
        length: image size along the axis (px).
        tile: tile size (px).
        overlap: shared pixels between neighbours (px), ``< tile``.

    Returns:
        Sorted list of start offsets; the tile at ``s`` covers ``[s, min(s + tile, length))``.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def blend_window_1d(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blending weights of one tile.

    Args:
        length: tile length (px).
        overlap: overlap with the neighbours (px).
        at_start: the tile's first pixel is on the image border (no fade there).
        at_end: the tile's last pixel is on the image border.

    Returns:
        float64 array ``(length,)`` in ``[0, 1]``: 0 on the discarded ``3 * overlap // 8``
        pixels at an interior edge, a raised-cosine ramp over the next
        ``overlap - 2 * (3 * overlap // 8)`` pixels (strictly between 0 and 1; mirrored ramps
        sum to 1), then 1.
    """
    w = np.ones(length, dtype=np.float64)
    discard = (3 * overlap) // 8
    ramp_len = overlap - 2 * discard
    k = np.arange(ramp_len, dtype=np.float64)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / ramp_len)
    if not at_start:
        w[:discard] = 0.0
        w[discard : discard + ramp_len] = ramp
    if not at_end:
        w[length - discard :] = 0.0
        w[length - discard - ramp_len : length - discard] *= ramp[::-1]
    return w


def _axis_plan(length: int, tile: int, overlap: int) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray]:
    """Tiles along one axis as ``(start, stop, window)`` plus the summed window over the axis."""
    plan = []
    total = np.zeros(length, dtype=np.float64)
    for s in tile_starts(length, tile, overlap):
        e = min(s + tile, length)
        w = blend_window_1d(e - s, overlap, at_start=(s == 0), at_end=(e == length))
        plan.append((s, e, w))
        total[s:e] += w
    return plan, total


def autocast_context(device: torch.device, precision: str):
    """Autocast for ``precision`` on ``device`` (a no-op for fp32).

    bf16 works on CPU and CUDA; fp16 is refused on CPU (slow and poorly supported there;
    bf16 is the CPU half precision).
    """
    if precision not in PRECISIONS:
        raise BlurmapError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise BlurmapError("fp16 needs a CUDA device; use --precision bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (``avx512_bf16`` or AMX in ``/proc/cpuinfo``).

    Without it oneDNN emulates bf16 with fp32 instructions plus conversions, which is slower
    than fp32. False where ``/proc/cpuinfo`` cannot be read (non-Linux systems).
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` on a CPU with native bf16 (:func:`cpu_has_native_bf16`), else
    ``"fp32"`` (CUDA included); any other value is returned as it is.

    bf16 is the CPU default because on such CPUs it is about twice as fast as fp32 and the
    shipped models' outputs stay within 0.05 dB PSNR of fp32 (docs/inference.md, Precision).
    """
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cpu"``/``"cuda"``/``None`` (= CUDA when available) -> :class:`torch.device`."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BlurmapError("--device cuda was asked for but no CUDA device is available")
    if dev.type not in ("cpu", "cuda"):
        raise BlurmapError(f"unsupported device {str(device)!r}; use cpu or cuda")
    return dev


def _run_model(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    if hasattr(model, "predict"):
        out = model.predict(x)
        if not isinstance(out, dict) or "image" not in out:
            raise TypeError(f"{type(model).__name__}.predict() must return a dict with 'image'")
        return {k: v for k, v in out.items() if v is not None}
    return {"image": model(x)}


def count_tiles(height: int, width: int, tiling: Tiling, multiple: int = 1) -> int:
    """Number of tiles an ``height x width`` image is cut into (see :func:`balanced_tile`)."""
    th = balanced_tile(height, tiling.tile, tiling.overlap, multiple)
    tw = balanced_tile(width, tiling.tile, tiling.overlap, multiple)
    return len(tile_starts(height, th, tiling.overlap)) * len(tile_starts(width, tw, tiling.overlap))


def tiled_predict(
    model: nn.Module,
    image: torch.Tensor,
    *,
    tiling: Tiling | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    channels_last: bool = True,
    on_tile: Callable[[int, int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` over one image tile by tile and blend the outputs.

    The model must already be on ``device`` and in eval mode (:class:`Deblurrer` does that).

    Args:
        model: restoration network following the inference convention (``predict()`` -> dict
            with ``"image"`` and optional ``"map"``, or ``forward()`` -> image).
        image: ``(C, H, W)`` float32 CPU tensor in [0, 1], C = 3 for an RGB image (6 for a
            stacked dual-pixel pair; any C the model takes). It may be a non-contiguous view of
            a numpy HxWxC array; tiles are copied out one at a time.
        tiling: tile and overlap; default :func:`default_tiling`.
        device: where the model runs.
        precision: ``"fp32"``, ``"bf16"`` (autocast, CPU or CUDA) or ``"fp16"`` (CUDA).
        channels_last: feed tiles in channels-last memory format.
        on_tile: called as ``on_tile(done, total)`` after each tile (progress bars).

    Returns:
        dict of float32 CPU tensors ``(C, H, W)``, one per model output (``"image"``: C=3;
        ``"map"``: C=1), at the input's size. Values are not clamped.

    Raises:
        BlurmapError: image smaller than :data:`MIN_IMAGE_SIDE` on a side, bad precision.
    """
    if image.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(image.shape)}")
    _, height, width = image.shape
    if min(height, width) < MIN_IMAGE_SIDE:
        raise BlurmapError(
            f"image is {width}x{height} px; deblurring needs at least "
            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} px"
        )
    device = torch.device(device)
    tiling = tiling or default_tiling(model)
    recommended = recommended_overlap(model)
    if tiling.overlap < recommended and (height > tiling.tile or width > tiling.tile):
        warnings.warn(
            f"overlap {tiling.overlap} px is below the model's receptive field "
            f"({model_receptive_field(model)} px; recommended overlap >= {recommended} px); seams may be visible",
            stacklevel=2,
        )
    multiple = model_size_multiple(model)
    # ``tiling.tile`` is the largest tile; the tiles of each axis are evened out
    rows, row_sum = _axis_plan(height, balanced_tile(height, tiling.tile, tiling.overlap, multiple), tiling.overlap)
    cols, col_sum = _axis_plan(width, balanced_tile(width, tiling.tile, tiling.overlap, multiple), tiling.overlap)
    total = len(rows) * len(cols)

    acc: dict[str, torch.Tensor] = {}
    done = 0
    autocast = autocast_context(device, precision)
    # Only the model call runs in inference mode: the accumulators must stay normal tensors
    # so callers can modify the results in place.
    with torch.no_grad():
        for y0, y1, wy in rows:
            for x0, x1, wx in cols:
                tile = image[:, y0:y1, x0:x1].unsqueeze(0).to(device=device, dtype=torch.float32)
                h, w = tile.shape[-2:]
                padded, _ = pad_to_multiple(tile, multiple)
                # Always a private copy: an unpadded tile may be a view of the caller's array,
                # which a model modifying its input in place must not be able to touch.
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                tile = padded.clone(memory_format=fmt) if padded is tile else padded.contiguous(memory_format=fmt)
                with torch.inference_mode(), autocast:
                    outputs = _run_model(model, tile)
                weight = torch.from_numpy(np.outer(wy, wx).astype(np.float32))
                for key, out in outputs.items():
                    out = out[0, :, :h, :w].float().cpu()
                    if key not in acc:
                        acc[key] = torch.zeros((out.shape[0], height, width), dtype=torch.float32)
                    elif out.shape[0] != acc[key].shape[0]:
                        raise ValueError(f"output {key!r} changed its channel count between tiles")
                    acc[key][:, y0:y1, x0:x1].addcmul_(out, weight)
                done += 1
                if on_tile is not None:
                    on_tile(done, total)

    # Divide by the weight sum, which is separable: row_sum[y] * col_sum[x] (> 0 everywhere).
    inv_col = torch.from_numpy((1.0 / col_sum).astype(np.float32))
    inv_row = torch.from_numpy((1.0 / row_sum).astype(np.float32))
    for buf in acc.values():
        buf.mul_(inv_col)  # broadcast over (C, H, W) along W
        buf.mul_(inv_row[:, None])
    return acc


def prepare_model(
    model: nn.Module, device: str | torch.device = "cpu", channels_last: bool = True
) -> nn.Module:
    """Put a model in eval mode on ``device`` (channels-last memory format if asked)."""
    model = model.eval().to(torch.device(device))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def inference_runner(model: nn.Module, precision: str = "fp32") -> nn.Module:
    """The module that runs inference for ``model`` at ``precision``.

    ``model.for_inference()`` when the model offers an equivalent faster copy (BladeNet:
    BatchNorm folded into the convs), else the model itself; for ``bf16`` / ``fp16`` a copy
    whose convolution weights are stored in that dtype (what autocast casts them to on every
    call otherwise; same output, :func:`blurmap.models.fold.cast_conv_weights`). The trained
    ``model`` itself is never modified.
    """
    from blurmap.models.fold import cast_conv_weights

    make = getattr(model, "for_inference", None)
    runner = make().eval() if callable(make) else model
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        runner = cast_conv_weights(runner, dtype, copy_first=runner is model)
    return runner


def _as_chw_float(array: np.ndarray) -> torch.Tensor:
    """numpy HxWx3 (float in [0,1], or uint8/uint16) -> (3, H, W) float32 tensor view."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise BlurmapError(f"expected an HxWx3 RGB array, got shape {array.shape}")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif array.dtype != np.float32:
        array = array.astype(np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)  # a view: no copy of float32 input


def gate_weight(prob: torch.Tensor, low: float = GATE_LOW, high: float = GATE_HIGH) -> torch.Tensor:
    """Blend weight of the restored pixel for a blur probability (the background gate).

    Args:
        prob: blur probability in [0, 1], any shape (e.g. ``(1, H, W)``).
        low: at and below this probability the weight is exactly 0 (input kept).
        high: at and above this probability the weight is exactly 1 (restored kept).

    Returns:
        float32 tensor of ``prob``'s shape in [0, 1]: ``clip((p - low) / (high - low), 0, 1)``.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"gate ramp needs 0 <= low < high <= 1, got {low}, {high}")
    return ((prob.float() - low) / (high - low)).clamp_(0.0, 1.0)


def gate_blend(image: torch.Tensor, restored: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """Blend the restored image into the input by the blur probability (the background gate).

    Args:
        image: the model's input ``(3, H, W)`` float32 in [0, 1].
        restored: the model's output ``(3, H, W)`` float32 in [0, 1].
        prob: blur probability ``(1, H, W)`` in [0, 1].

    Returns:
        ``(3, H, W)`` float32: ``lerp(image, restored, gate_weight(prob))``. ``torch.lerp``
        returns its end points exactly, so where the weight is 0 (``p <= GATE_LOW``) the pixel
        is bit-identical to ``image`` and where it is 1 to ``restored``.
    """
    w = gate_weight(prob).expand_as(restored)
    return torch.lerp(image.float(), restored.float(), w)


class Deblurrer:
    """A restoration model ready for inference on images of any size.

    Wraps the network with its device, precision and tiling; ``deblur`` accepts numpy
    ``HxWx3`` arrays and torch ``(B, 3, H, W)`` / ``(3, H, W)`` tensors and answers in kind.
    Made by :func:`blurmap.load_model`; build one directly around any model following the
    inference convention of :mod:`blurmap.models`.

    Args:
        model: the network (``forward`` or ``predict`` as in :mod:`blurmap.models`).
        name: what to call it in messages (registry name or weights file).
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA only) or ``"auto"`` (bf16 on a
            CPU with native bf16, else fp32: :func:`resolve_precision`). ``self.precision``
            holds the resolved one.
        tile, overlap: default tiling (px); ``None`` -> :func:`default_tiling`. ``tile`` is
            the largest tile: the tiles of an axis are evened out (:func:`balanced_tile`).
        channels_last: run in channels-last memory format (faster convs on CPU).
        metadata: the weights file's metadata, kept for reference.

    Example:
        >>> import numpy as np, torch
        >>> from blurmap.infer import Deblurrer
        >>> net = torch.nn.Conv2d(3, 3, 3, padding=1)   # any (B,3,H,W) -> (B,3,H,W) module
        >>> net.receptive_field = 3                      # px; blurmap's models declare theirs
        >>> d = Deblurrer(net, tile=64, overlap=16)
        >>> out = d.deblur(np.full((100, 150, 3), 0.5, np.float32))
        >>> out.shape, out.dtype
        ((100, 150, 3), dtype('float32'))
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str | None = None,
        device: str | torch.device | None = "cpu",
        precision: str = "fp32",
        tile: int | None = None,
        overlap: int | None = None,
        channels_last: bool = True,
        metadata: dict | None = None,
    ):
        self.device = resolve_device(device)
        if precision not in PRECISION_CHOICES:
            raise BlurmapError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
        precision = resolve_precision(precision, self.device)
        autocast_context(self.device, precision)  # validates the precision/device pair early
        self.precision = precision
        self.channels_last = channels_last
        self.model = prepare_model(model, self.device, channels_last)
        # what the tiles run through: an equivalent faster copy when the model has one; the
        # trained module (``self.model``, its state_dict keys) stays as it was loaded
        self.runner = inference_runner(self.model, precision)
        self.name = name or getattr(model, "registry_name", type(model).__name__)
        self.metadata = dict(metadata or {})
        self.tile = tile
        self.overlap = overlap
        self.tiling(tile, overlap)  # validate early
        self._has_map: bool | None = None

    def tiling(self, tile: int | None = None, overlap: int | None = None) -> Tiling:
        """The tiling for a call: explicit arguments, else the object's, else the model's default."""
        default = default_tiling(self.model)
        tile = tile or self.tile or default.tile
        overlap = overlap or self.overlap or min(default.overlap, tile // 2)
        return Tiling(tile=int(tile), overlap=int(overlap))

    def _predict_chw(self, image: torch.Tensor, tiling: Tiling, on_tile) -> dict[str, torch.Tensor]:
        return tiled_predict(
            self.runner,
            image,
            tiling=tiling,
            device=self.device,
            precision=self.precision,
            channels_last=self.channels_last,
            on_tile=on_tile,
        )

    @property
    def can_gate(self) -> bool:
        """Whether the model predicts a blur mask (``map_kind == "mask"``), so ``gate=True`` works."""
        return getattr(self.model, "map_kind", None) == "mask" and self.has_map

    def _check_gate(self, gate: bool) -> None:
        if gate and not self.can_gate:
            raise BlurmapError(
                f"{self.name} predicts no blur mask, so the background gate has nothing to blend by; "
                "the gate works with local-blur models (BladeNet with its LBP)"
            )

    def _restore_chw(self, chw: torch.Tensor, tiling: Tiling, on_tile, gate: bool) -> dict[str, torch.Tensor]:
        out = self._predict_chw(chw, tiling, on_tile)
        out["image"].clamp_(0, 1)
        if gate:
            out["image"] = gate_blend(chw, out["image"], out["map"])
        return out

    def predict(
        self, image, *, tile: int | None = None, overlap: int | None = None, on_tile=None, gate: bool = False
    ) -> dict:
        """All outputs of the model for ``image``.

        Args:
            image: numpy ``HxWx3`` (float in [0,1], or uint8/uint16) or torch ``(B,3,H,W)``
                / ``(3,H,W)`` float in [0,1].
            tile, overlap: override the tiling for this call (px).
            on_tile: progress callback ``on_tile(done, total)`` (per image of a batch).
            gate: background gate: blend the restored image into the input by the model's
                blur mask (:func:`gate_blend`), so pixels with blur probability
                ``<= GATE_LOW`` (0.1) come out bit-identical to the input (float32; an 8- or
                16-bit input, written back at its bit depth, keeps its values there).

        Returns:
            dict with ``"image"`` (restored, clamped to [0,1]) and, when the model has one,
            ``"map"`` (defocus map in px or blur mask in [0,1]). numpy input: ``HxWx3`` and
            ``HxW`` float32 arrays; torch input: tensors of the input's rank (``(B,3,H,W)``,
            ``(B,1,H,W)``), dtype and device.

        Raises:
            BlurmapError: ``gate=True`` for a model without a blur mask (defocus models).
        """
        tiling = self.tiling(tile, overlap)
        self._check_gate(gate)
        if isinstance(image, np.ndarray):
            out = self._restore_chw(_as_chw_float(image), tiling, on_tile, gate)
            result = {"image": out["image"].permute(1, 2, 0).numpy()}
            if "map" in out:
                result["map"] = out["map"][0].numpy()
            return result
        if isinstance(image, torch.Tensor):
            batched = image.ndim == 4
            batch = image if batched else image.unsqueeze(0)
            if batch.ndim != 4 or batch.shape[1] != 3:
                raise BlurmapError(f"expected a (B, 3, H, W) or (3, H, W) tensor, got {tuple(image.shape)}")
            per_key: dict[str, list[torch.Tensor]] = {}
            for item in batch:
                out = self._restore_chw(item.detach().float().cpu(), tiling, on_tile, gate)
                for k, v in out.items():
                    per_key.setdefault(k, []).append(v)
            result = {k: torch.stack(v).to(device=image.device, dtype=image.dtype) for k, v in per_key.items()}
            return result if batched else {k: v[0] for k, v in result.items()}
        raise BlurmapError(f"expected a numpy array or a torch tensor, got {type(image).__name__}")

    def deblur(
        self, image, *, gate: bool = False, tile: int | None = None, overlap: int | None = None, on_tile=None
    ):
        """The restored image, in the input's kind (numpy ``HxWx3`` or torch ``(B,3,H,W)``).

        See :meth:`predict` for the arguments (``gate``: the background gate).
        """
        return self.predict(image, tile=tile, overlap=overlap, on_tile=on_tile, gate=gate)["image"]

    def blur_map(self, image, *, tile: int | None = None, overlap: int | None = None):
        """The model's map for ``image`` (numpy ``HxW`` or torch ``(B,1,H,W)``).

        Raises:
            BlurmapError: the model predicts no map.
        """
        out = self.predict(image, tile=tile, overlap=overlap)
        if "map" not in out:
            raise BlurmapError(f"model {self.name} predicts no blur map")
        return out["map"]

    @property
    def has_map(self) -> bool:
        """Whether the model's ``predict`` returns a ``"map"`` (probed once on a tiny input)."""
        if self._has_map is None:
            side = _round_up(MIN_IMAGE_SIDE, model_size_multiple(self.model))
            probe = torch.zeros((1, 3, side, side), device=self.device)
            with torch.inference_mode(), autocast_context(self.device, self.precision):
                self._has_map = "map" in _run_model(self.runner, probe)
        return self._has_map

    def __repr__(self) -> str:
        return f"Deblurrer({self.name}, device={self.device}, precision={self.precision})"
