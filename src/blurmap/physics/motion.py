"""Local object motion: trajectories, warps, frame averaging in linear light (LODE §4.1).

The LODE local blur synthesis (LBS) moves segmented objects over a static background along a
trajectory of odd length ``N`` in ``[7, 13]``. At every step three transformations --
translation in the image plane (x, y), scaling (motion along the optical axis, z) and rotation
-- are applied *in a random order*; the frames are averaged in linear light (gamma 2.2, LODE
supplementary A, eq. 6-7) and the middle frame is the sharp target. The mask is the union of
the object's footprints over all frames, so every pixel the blur can change lies inside it.

The paper gives no numeric ranges for the per-step transformations. Chosen here (see
:class:`MotionRanges`), with the reason: each object gets a constant *drift* per step (a
velocity, a zoom rate and a spin rate) plus a small random *jitter* per step. A pure random
walk would produce jittery, mostly self-cancelling blur, while real moving objects (the LODE
videos: people, cars, animals) move coherently during a 7-13 frame exposure window. Speeds are
a fraction of the canvas's shorter side so the blur length scales with the image: at 512 px a
trajectory of 13 frames moves the object 18-92 px, comparable to the large-motion regions of
LODE/REDS.

Conventions: all warps are 2x3 affine matrices mapping object (cut-out) pixel coordinates to
canvas pixel coordinates, pixel centres at integer coordinates (kornia ``align_corners=True``).
Objects are premultiplied RGBA in linear light during warping, so bilinear resampling of the
edges is physically correct.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import kornia
import numpy as np
import torch

from blurmap.physics.crf import CRF

__all__ = [
    "MotionRanges",
    "sample_num_frames",
    "random_trajectory",
    "warp_rgba",
    "average_frames",
    "blur_frames",
    "MovingObject",
    "LocalBlurResult",
    "synthesize_local_blur",
]


@dataclass(frozen=True)
class MotionRanges:
    """Ranges of the random object motion (documented choices; LODE §4.1 gives none).

    Per-step drifts (the default) scale with the canvas; the *total* ranges, when set, fix the
    motion over the whole exposure in px and degrees instead, whatever the canvas size and the
    number of frames (the drift per step is the total over ``N - 1`` steps).

    Attributes:
        frames: inclusive range of the trajectory length; only odd values are drawn.
        speed: translation drift per step, as a fraction of the canvas's shorter side.
        translation_jitter: std of the per-step translation noise, as a fraction of the drift.
        zoom: range of the log-scale drift per step (0.03 -> about 3 % per frame).
        zoom_jitter: std of the per-step log-scale noise.
        spin: range of the rotation drift per step, degrees.
        spin_jitter: std of the per-step rotation noise, degrees.
        extent: if set, ``(min, max)`` px of the path length from the first to the last frame
            (overrides ``speed``).
        rotation: if set, the total rotation over the exposure is uniform in ``+-rotation``
            degrees (overrides ``spin``).
        scale: if set, the total scale change is uniform in ``1 +- scale`` (overrides ``zoom``).
        turn: total change of heading over the exposure, uniform in ``+-turn`` degrees (a curved
            path; 0 = straight). Curved paths are held out of training.
    """

    frames: tuple[int, int] = (7, 13)
    speed: tuple[float, float] = (0.003, 0.015)
    translation_jitter: float = 0.3
    zoom: tuple[float, float] = (-0.03, 0.03)
    zoom_jitter: float = 0.005
    spin: tuple[float, float] = (-2.5, 2.5)
    spin_jitter: float = 0.5
    extent: tuple[float, float] | None = None
    rotation: float | None = None
    scale: float | None = None
    turn: float = 0.0

    def __post_init__(self):
        if self.extent is not None and not 0 <= self.extent[0] <= self.extent[1]:
            raise ValueError(f"motion extent must satisfy 0 <= min <= max px, got {self.extent}")
        if self.rotation is not None and self.rotation < 0:
            raise ValueError(f"motion rotation must be >= 0 degrees, got {self.rotation}")
        if self.scale is not None and not 0 <= self.scale < 1:
            raise ValueError(f"motion scale must be in [0, 1), got {self.scale}")

    def to_dict(self) -> dict:
        return asdict(self)


def sample_num_frames(rng: np.random.Generator, lo: int = 7, hi: int = 13) -> int:
    """Draw an odd trajectory length uniformly from the odd numbers in ``[lo, hi]``.

    Args:
        rng: numpy random generator.
        lo, hi: inclusive bounds (LODE: 7 and 13).
    Returns:
        An odd int in ``[lo, hi]``.
    """
    odds = [n for n in range(lo, hi + 1) if n % 2 == 1]
    if not odds:
        raise ValueError(f"no odd number in [{lo}, {hi}]")
    return int(rng.choice(odds))


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _about(centre: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """3x3 matrix applying the 2x2 ``linear`` map about ``centre``."""
    m = np.eye(3)
    m[:2, :2] = linear
    return _translate(*centre) @ m @ _translate(*(-centre))


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def random_trajectory(
    rng: np.random.Generator,
    num_frames: int,
    object_size: tuple[int, int],
    position: tuple[float, float],
    canvas_size: tuple[int, int],
    ranges: MotionRanges = MotionRanges(),
    initial_angle: float = 0.0,
) -> np.ndarray:
    """Random object trajectory: one affine warp per frame.

    At every step the translation, scaling and rotation increments are drawn (drift + jitter)
    and composed in a random order; scaling and rotation act about the object's centre at the
    start of the step. The trajectory is then shifted so the object's centre in the *middle*
    frame (the sharp target) is exactly ``position``.

    Args:
        rng: numpy random generator.
        num_frames: trajectory length N (odd).
        object_size: ``(h, w)`` of the object cut-out, px.
        position: ``(x, y)`` canvas position of the object's centre in the middle frame, px.
        canvas_size: ``(H, W)`` of the canvas, px (sets the translation speed).
        ranges: motion ranges.
        initial_angle: rotation of the object (degrees) at the start of the trajectory.
    Returns:
        ``(N, 2, 3)`` float64 array; frame t maps cut-out pixel coordinates ``(x, y)`` to canvas
        pixel coordinates.
    """
    h, w = object_size
    side = float(min(canvas_size))
    centre_obj = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    # Base pose: cut-out centre at the origin of motion, with its initial rotation.
    base = _about(np.zeros(2), _rotation(initial_angle)) @ _translate(*(-centre_obj))

    steps = max(num_frames - 1, 1)
    if ranges.extent is None:
        speed = rng.uniform(*ranges.speed) * side
    else:
        speed = rng.uniform(*ranges.extent) / steps
    heading = rng.uniform(0.0, 2.0 * np.pi)
    zoom_rate = rng.uniform(*ranges.zoom) if ranges.scale is None else \
        np.log1p(rng.uniform(-ranges.scale, ranges.scale)) / steps
    spin_rate = rng.uniform(*ranges.spin) if ranges.rotation is None else \
        rng.uniform(-ranges.rotation, ranges.rotation) / steps
    turn_rate = np.deg2rad(rng.uniform(-ranges.turn, ranges.turn)) / steps if ranges.turn else 0.0

    mats = [np.eye(3)]
    for t in range(num_frames - 1):
        prev = mats[-1]
        c = (prev @ np.array([0.0, 0.0, 1.0]))[:2]  # object centre before this step
        h = heading + turn_rate * (t + 0.5)
        velocity = speed * np.array([np.cos(h), np.sin(h)])
        d = velocity + rng.normal(0.0, ranges.translation_jitter * speed, size=2)
        s = float(np.exp(zoom_rate + rng.normal(0.0, ranges.zoom_jitter)))
        a = spin_rate + rng.normal(0.0, ranges.spin_jitter)
        steps = {
            "translate": _translate(*d),
            "scale": _about(c, s * np.eye(2)),
            "rotate": _about(c, _rotation(a)),
        }
        step = np.eye(3)
        for name in rng.permutation(sorted(steps)):
            step = steps[str(name)] @ step
        mats.append(step @ prev)
    mats = np.stack(mats)
    mid = mats[num_frames // 2] @ np.array([0.0, 0.0, 1.0])
    anchor = _translate(position[0] - mid[0], position[1] - mid[1])
    full = np.stack([anchor @ m @ base for m in mats])
    return full[:, :2, :]


def _footprint_box(mats: np.ndarray, object_size: tuple[int, int], canvas: tuple[int, int]):
    """Integer canvas box ``(y0, y1, x0, x1)`` covering the object in all frames (or None)."""
    h, w = object_size
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    pts = np.concatenate([m @ corners for m in mats], axis=1)  # (2, 4N)
    x0 = int(np.floor(pts[0].min())) - 1
    x1 = int(np.ceil(pts[0].max())) + 2
    y0 = int(np.floor(pts[1].min())) - 1
    y1 = int(np.ceil(pts[1].max())) + 2
    H, W = canvas
    x0, x1, y0, y1 = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def warp_rgba(
    rgba: torch.Tensor, mats: np.ndarray | torch.Tensor, box: tuple[int, int, int, int]
) -> torch.Tensor:
    """Warp a premultiplied RGBA cut-out into a canvas window for every frame (kornia).

    Args:
        rgba: ``(4, h, w)`` premultiplied RGBA cut-out (colour already multiplied by alpha).
        mats: ``(N, 2, 3)`` cut-out -> canvas pixel affine maps.
        box: canvas window ``(y0, y1, x0, x1)`` to render (only that window is computed).
    Returns:
        ``(N, 4, y1 - y0, x1 - x0)`` premultiplied RGBA of every frame inside the window.
    """
    y0, y1, x0, x1 = box
    m = torch.as_tensor(np.asarray(mats), dtype=torch.float32).clone()
    m[:, 0, 2] -= x0
    m[:, 1, 2] -= y0
    src = rgba.unsqueeze(0).expand(m.shape[0], -1, -1, -1)
    out = kornia.geometry.transform.warp_affine(
        src, m, dsize=(y1 - y0, x1 - x0), mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return out


def average_frames(frames: torch.Tensor, crf: CRF | None = None) -> torch.Tensor:
    """Blur of a frame sequence in linear light: encode(mean_t(linear(frame_t))).

    LODE supplementary A, eq. 6-7 (after Nah et al. 2017): the sensor integrates linear light
    over the exposure; the CRF (gamma 2.2 by default) maps it to pixel values.

    Args:
        frames: ``(N, C, H, W)`` sRGB-encoded frames in ``[0, 1]``.
        crf: camera response; default gamma 2.2.
    Returns:
        ``(1, C, H, W)`` encoded blurred frame.
    """
    crf = crf if crf is not None else CRF()
    return crf.to_encoded(crf.to_linear(frames).mean(dim=0, keepdim=True))


blur_frames = average_frames  # readable alias used by the video generator


@dataclass
class MovingObject:
    """An object cut-out to move: sRGB colour and alpha (alpha 0 outside the object).

    Attributes:
        rgb: ``(3, h, w)`` sRGB in ``[0, 1]``.
        alpha: ``(1, h, w)`` opacity in ``[0, 1]``.
        position: ``(x, y)`` canvas position of its centre in the middle frame.
        initial_angle: degrees.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    position: tuple[float, float]
    initial_angle: float = 0.0


@dataclass
class LocalBlurResult:
    """Output of :func:`synthesize_local_blur` (all sRGB ``(3, H, W)`` / ``(1, H, W)`` float32).

    ``blur`` and ``sharp`` are bit-identical to the background wherever ``mask == 0``.
    """

    blur: torch.Tensor
    sharp: torch.Tensor
    mask: torch.Tensor
    num_frames: int
    trajectories: list = field(default_factory=list)


def synthesize_local_blur(
    background: torch.Tensor,
    objects: list[MovingObject],
    rng: np.random.Generator,
    ranges: MotionRanges = MotionRanges(),
    crf: CRF | None = None,
    num_frames: int | None = None,
) -> LocalBlurResult:
    """Move objects over a static background and average the frames (LODE LBS).

    All objects share one trajectory length N (one exposure); each gets its own motion. Frames
    are composited in linear light (object over background, in list order), averaged, and
    encoded back. Only the union of the objects' footprints is computed; every pixel outside
    it is *copied* from ``background`` in both outputs, so they are bit-identical there (no
    gamma round trip touches them).

    Args:
        background: ``(3, H, W)`` sRGB background in ``[0, 1]`` (static distractors already pasted).
        objects: moving objects.
        rng: numpy generator (all randomness comes from it).
        ranges: motion ranges.
        crf: camera response (default gamma 2.2).
        num_frames: trajectory length; default drawn from ``ranges.frames`` (odd).
    Returns:
        :class:`LocalBlurResult` with ``blur``, ``sharp`` ``(3, H, W)``, binary ``mask``
        ``(1, H, W)``, the trajectory length and the per-object ``(N, 2, 3)`` warps.
    """
    crf = crf if crf is not None else CRF()
    H, W = background.shape[-2:]
    n = num_frames if num_frames is not None else sample_num_frames(rng, *ranges.frames)
    if n % 2 == 0 or n < 1:
        raise ValueError(f"trajectory length must be odd and positive, got {n}")
    blur = background.clone()
    sharp = background.clone()
    mask = torch.zeros(1, H, W, dtype=background.dtype)

    plans = []
    for obj in objects:
        h, w = obj.rgb.shape[-2:]
        mats = random_trajectory(rng, n, (h, w), obj.position, (H, W), ranges, obj.initial_angle)
        plans.append((obj, mats, _footprint_box(mats, (h, w), (H, W))))
    boxes = [b for _, _, b in plans if b is not None]
    if not boxes:
        return LocalBlurResult(blur, sharp, mask, n, [m for _, m, _ in plans])
    # One window covering every object's footprint in every frame.
    y0 = min(b[0] for b in boxes)
    y1 = max(b[1] for b in boxes)
    x0 = min(b[2] for b in boxes)
    x1 = max(b[3] for b in boxes)

    bg = background[:, y0:y1, x0:x1].unsqueeze(0)
    frames = crf.to_linear(bg).expand(n, -1, -1, -1).clone()  # (N, 3, h, w) linear
    cover = torch.zeros(n, 1, y1 - y0, x1 - x0, dtype=background.dtype)
    for obj, mats, b in plans:
        if b is None:
            continue
        alpha = obj.alpha.to(background.dtype)
        rgba = torch.cat([crf.to_linear(obj.rgb.unsqueeze(0))[0] * alpha, alpha], dim=0)
        # Warp only into this object's own window (much smaller than the union window).
        warped = warp_rgba(rgba, mats, b)
        a = warped[:, 3:4].clamp(0.0, 1.0)
        win = (slice(None), slice(None), slice(b[0] - y0, b[1] - y0), slice(b[2] - x0, b[3] - x0))
        frames[win] = warped[:, :3] + frames[win] * (1.0 - a)  # premultiplied "over"
        cover[win] = torch.maximum(cover[win], a)

    footprint = (cover > 0).any(dim=0)  # (1, h, w) union over frames
    mid_cover = cover[n // 2] > 0
    blurred = crf.to_encoded(frames.mean(dim=0, keepdim=True))[0]
    middle = crf.to_encoded(frames[n // 2 : n // 2 + 1])[0]
    region_blur = blur[:, y0:y1, x0:x1]
    region_sharp = sharp[:, y0:y1, x0:x1]
    blur[:, y0:y1, x0:x1] = torch.where(footprint, blurred, region_blur)
    # The sharp frame differs from the background only where the object is in the middle frame.
    sharp[:, y0:y1, x0:x1] = torch.where(mid_cover, middle, region_sharp)
    mask[:, y0:y1, x0:x1] = footprint.to(mask.dtype)
    return LocalBlurResult(blur, sharp, mask, n, [m for _, m, _ in plans])
