"""Procedural sharp scenes with depth: dead leaves of power-law sizes, textures, and depth layers.

A scene is drawn back to front as in the dead-leaves model: a background that fills the frame,
then ``N`` occluding shapes ("leaves"), each painted over what is already there, so the last
leaf is the nearest. Leaf radii follow a truncated power law ``p(r) ~ r^(-size_exponent)`` over
``radius * min(H, W)`` (exponent 3 makes the scene statistically scale invariant). Each leaf is a
disk, ellipse, rotated rectangle, polygon or smooth blob, with an anti-aliased (hard) edge or,
with probability ``soft_edge_prob``, a Gaussian-feathered (soft) one, and filled with a texture
(:mod:`blurmap.synth.textures`, or a random window of a photo from the pool). A leaf is flat or a
smooth gradient with probability ``smooth_fraction``, so on average that fraction of every
scene's area is sharp but textureless (the case a blur estimator must not call blurred).

Depth (inverse depth ``u``, larger = nearer, as :mod:`blurmap.synth.dp`): the leaves are grouped
by stacking order into 1-6 *surfaces*; surface ``k`` lies at ``u_k`` (increasing with ``k``), is
fronto-parallel, slanted (a plane at an angle) or carries a smooth random depth field, with a
relief that never crosses the neighbouring surfaces, so a nearer leaf is always nearer in depth
and the occlusion-aware DP renderer blurs its edges correctly. A one-surface scene may be
strongly slanted (a floor or wall through the focal plane).

The ``ground`` layout (held out of training; :mod:`blurmap.synth.holdout`) is a ground plane
receding to a horizon under a far sky, with upright leaves standing on it at the depth of their
base.

Example:
    >>> import numpy as np
    >>> s = procedural_scene(np.random.default_rng(0), (64, 96))
    >>> s["image"].shape, s["inverse_depth"].shape, s["image"].dtype
    ((64, 96, 3), (64, 96), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

from blurmap.synth.textures import SMOOTH_KINDS, TRAIN_KINDS, procedural_texture, random_colour

__all__ = ["ProceduralConfig", "SHAPES", "power_law_radii", "leaf_mask", "procedural_scene", "procedural_cutout"]

SHAPES = ("disk", "ellipse", "rectangle", "polygon", "blob")
LAYOUTS = ("stack", "ground")


@dataclass(frozen=True)
class ProceduralConfig:
    """Parameters of :func:`procedural_scene` (each a documented knob; see the module docstring).

    Attributes:
        leaves: inclusive range of the most leaves drawn over the background (the ``stack``
            layout stops earlier once its target coverage is reached).
        size_exponent: exponent of the radius power law ``p(r) ~ r^-a``.
        radius: radius range as fractions of the shorter image side.
        smooth_fraction: probability that a leaf (or the background) is flat or a smooth gradient.
        photo_fraction: probability that a textured leaf shows a photo window (when photos exist).
        soft_edge_prob: probability of a Gaussian-feathered edge instead of an anti-aliased one.
        soft_edge_sigma: range of the feathering sigma, px.
        surfaces: inclusive range of the number of depth surfaces.
        slant_prob: probability that a surface is slanted.
        field_prob: probability that a surface carries a smooth depth field.
        textures: the procedural texture kinds leaves may use (``photo`` = photo windows).
        layout: ``stack`` (training) or ``ground`` (held out).
    """

    leaves: tuple[int, int] = (100, 300)
    size_exponent: float = 3.0
    radius: tuple[float, float] = (0.02, 0.5)
    smooth_fraction: float = 0.3
    photo_fraction: float = 0.35
    soft_edge_prob: float = 0.25
    soft_edge_sigma: tuple[float, float] = (0.8, 4.0)
    surfaces: tuple[int, int] = (1, 6)
    slant_prob: float = 0.4
    field_prob: float = 0.3
    textures: tuple[str, ...] = TRAIN_KINDS
    layout: str = "stack"

    def __post_init__(self):
        from blurmap.errors import ConfigError

        lo, hi = self.radius
        if not (0 < lo <= hi <= 2):
            raise ConfigError(f"procedural radius range must satisfy 0 < min <= max <= 2, got {self.radius}")
        if not (0 <= self.leaves[0] <= self.leaves[1]):
            raise ConfigError(f"procedural leaves range must satisfy 0 <= min <= max, got {self.leaves}")
        if not (1 <= self.surfaces[0] <= self.surfaces[1]):
            raise ConfigError(f"procedural surfaces range must satisfy 1 <= min <= max, got {self.surfaces}")
        for name in ("smooth_fraction", "photo_fraction", "soft_edge_prob", "slant_prob", "field_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"procedural {name} must be in [0, 1], got {getattr(self, name)}")
        if self.size_exponent <= 1:
            raise ConfigError(f"procedural size_exponent must be > 1, got {self.size_exponent}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"procedural layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def power_law_radii(rng: np.random.Generator, n: int, r_min: float, r_max: float, exponent: float) -> np.ndarray:
    """``n`` radii from the truncated power law ``p(r) ~ r^-exponent`` on ``[r_min, r_max]`` (inverse CDF)."""
    u = rng.random(n)
    a = 1.0 - exponent
    return (r_min**a + u * (r_max**a - r_min**a)) ** (1.0 / a)


def leaf_mask(rng: np.random.Generator, kind: str, r: float) -> np.ndarray:
    """Anti-aliased ``(s, s)`` float32 mask of one shape of radius ``r`` px, centred (``s`` odd)."""
    half = int(np.ceil(r)) + 2
    s = 2 * half + 1
    m = np.zeros((s, s), np.uint8)
    c = np.array([half, half], np.float64)
    theta = rng.uniform(0, 2 * np.pi)
    shift = 4  # cv2 sub-pixel coordinates: 1/16 px
    if kind == "disk":
        cv2.circle(m, (half << shift, half << shift), int(r * (1 << shift)), 255, -1, cv2.LINE_AA, shift)
        return m.astype(np.float32) / 255.0
    if kind == "ellipse":
        axes = (max(int(r * (1 << shift)), 1), max(int(r * rng.uniform(0.3, 1.0) * (1 << shift)), 1))
        cv2.ellipse(m, (half << shift, half << shift), axes, np.degrees(theta), 0, 360, 255, -1, cv2.LINE_AA, shift)
        return m.astype(np.float32) / 255.0
    if kind == "rectangle":
        a = rng.uniform(0.3, 1.0)
        pts = np.array([[1, a], [-1, a], [-1, -a], [1, -a]]) * r / np.sqrt(1 + a * a)
    elif kind == "polygon":
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.5, 1.0, k)
        pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
    elif kind == "blob":
        ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        rad = np.ones_like(ang)
        for f in range(2, 6):
            rad += rng.uniform(0, 0.25 / f * 2) * np.cos(f * ang + rng.uniform(0, 2 * np.pi))
        rad = r * rad / rad.max()
        pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {', '.join(SHAPES)}")
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    pts = (pts @ rot.T + c) * (1 << shift)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA, shift)
    return m.astype(np.float32) / 255.0


def _photo_window(rng: np.random.Generator, photo: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random window of ``photo`` resampled to ``(h, w)``: zoom 0.5-3x, random flip / rot90."""
    ph, pw = photo.shape[:2]
    z = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    wh, ww = min(ph, max(2, int(round(h * z)))), min(pw, max(2, int(round(w * z))))
    y, x = int(rng.integers(0, ph - wh + 1)), int(rng.integers(0, pw - ww + 1))
    win = photo[y : y + wh, x : x + ww]
    k = int(rng.integers(4))
    if k:
        win = np.rot90(win, k)
    if rng.random() < 0.5:
        win = win[:, ::-1]
    interp = cv2.INTER_AREA if win.shape[0] > h else cv2.INTER_LINEAR
    return np.clip(cv2.resize(np.ascontiguousarray(win), (w, h), interpolation=interp), 0, 1).astype(np.float32)


class _TextureBank:
    """Full-frame textures shared by the leaves of one scene (one per drawn kind).

    A leaf shows its bank texture at its own position, with its own colour gain, so a scene
    holds a few "materials" at every scale while drawing hundreds of leaves stays cheap.
    Flat leaves get a colour of their own.
    """

    def __init__(self, rng: np.random.Generator, cfg: ProceduralConfig, photos: Sequence[np.ndarray], h: int, w: int):
        self.cfg, self.h, self.w = cfg, h, w
        self.smooth = [k for k in SMOOTH_KINDS if k in cfg.textures]
        textured = [k for k in cfg.textures if k not in SMOOTH_KINDS and (k != "photo" or len(photos))]
        self.procedural = [k for k in textured if k != "photo"]
        self.photo = "photo" in textured
        self.entries: dict[str, list[np.ndarray]] = {}
        for kind in self.procedural + (["gradient"] if "gradient" in self.smooth else []):
            self.entries[kind] = [procedural_texture(kind, rng, h, w)]
        if self.photo:
            self.entries["photo"] = [_photo_window(rng, photos[int(rng.integers(len(photos)))], h, w)
                                     for _ in range(2)]

    def draw(self, rng: np.random.Generator, ys: slice, xs: slice):
        """``(texture window, kind)`` for a leaf covering ``[ys, xs]``; texture is a fresh array."""
        cfg = self.cfg
        textured = self.procedural or self.photo
        if self.smooth and (rng.random() < cfg.smooth_fraction or not textured):
            kind = self.smooth[int(rng.integers(len(self.smooth)))]
        elif textured:
            use_photo = self.photo and (rng.random() < cfg.photo_fraction or not self.procedural)
            kind = "photo" if use_photo else self.procedural[int(rng.integers(len(self.procedural)))]
        else:
            kind = "flat"
        h, w = ys.stop - ys.start, xs.stop - xs.start
        if kind == "flat":
            return np.broadcast_to(random_colour(rng), (h, w, 3)), kind
        bank = self.entries[kind]
        tex = bank[int(rng.integers(len(bank)))][ys, xs]
        if kind == "photo":
            return tex, kind
        gain = rng.uniform(0.6, 1.4, 3).astype(np.float32)
        return np.clip(tex * gain, 0, 1), kind


def _edge(rng: np.random.Generator, cfg: ProceduralConfig, mask: np.ndarray) -> tuple[np.ndarray, bool]:
    if rng.random() >= cfg.soft_edge_prob:
        return mask, False
    sigma = float(rng.uniform(*cfg.soft_edge_sigma))
    pad = int(np.ceil(3 * sigma))
    m = cv2.GaussianBlur(np.pad(mask, pad), (0, 0), sigma)
    return m, True


def _relief(rng: np.random.Generator, cfg: ProceduralConfig, h: int, w: int, amplitude: float) -> np.ndarray:
    """Zero-mean depth relief of a surface, within +-amplitude: flat, slanted or a smooth field."""
    out = np.zeros((h, w), np.float32)
    if amplitude <= 0:
        return out
    if rng.random() < cfg.slant_prob:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = rng.uniform(0, 2 * np.pi)
        v = np.cos(t) * (2 * xx / max(w - 1, 1) - 1) + np.sin(t) * (2 * yy / max(h - 1, 1) - 1)
        out += v / np.abs(v).max() * amplitude * rng.uniform(0.3, 1.0)
    if rng.random() < cfg.field_prob:
        small = rng.standard_normal((4, 4)).astype(np.float32)
        field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        field /= max(float(np.abs(field).max()), 1e-6)
        out += field * amplitude * rng.uniform(0.2, 0.6)
    return np.clip(out, -amplitude, amplitude)


def procedural_scene(rng: np.random.Generator, size: tuple[int, int], config: ProceduralConfig | None = None,
                     photos: Sequence[np.ndarray] = ()) -> dict:
    """One sharp scene with its inverse depth.

    Leaves are drawn front to back (each new leaf lies *under* the ones drawn so far, as leaves
    falling on a pile seen from below), which is the same picture as painting back to front but
    lets the generator stop once a random target coverage in [0.7, 1] of the frame is reached;
    the background shows through the rest.

    Args:
        rng: numpy generator (the only source of randomness).
        size: ``(H, W)`` px.
        config: the knobs (:class:`ProceduralConfig`).
        photos: ``(h, w, 3)`` float32 photos for ``photo`` textures (none: procedural textures only).
    Returns:
        dict: ``image`` ``(H, W, 3)`` float32 sRGB in [0, 1], ``inverse_depth`` ``(H, W)`` float32
        (larger = nearer, in [0, 1]), ``top`` ``(H, W)`` int32 index of the visible leaf (0 = the
        background; leaf ``i`` is the ``i``-th from the back), and ``info``: ``radii`` (px, as
        drawn, back to front), ``kinds`` (texture kind per leaf, background first), ``soft``
        (edge per leaf), ``smooth_area`` (fraction of pixels whose visible leaf is flat or
        smooth), ``layout`` and, for ``stack``, ``surfaces``.
    """
    cfg = config or ProceduralConfig()
    H, W = int(size[0]), int(size[1])
    side = min(H, W)
    bank = _TextureBank(rng, cfg, photos, H, W)
    ground = cfg.layout == "ground"
    horizon = int(rng.uniform(0.25, 0.55) * H) if ground else 0
    n_max = int(rng.integers(cfg.leaves[0], cfg.leaves[1] + 1))
    radii = power_law_radii(rng, n_max, cfg.radius[0] * side, cfg.radius[1] * side, cfg.size_exponent)
    centres = np.stack([rng.uniform(horizon, H + radii) if ground else rng.uniform(-radii, H + radii),
                        rng.uniform(-radii, W + radii)], 1)
    order = np.arange(n_max)
    if ground:  # nearest (lowest base) first
        order = np.argsort(-(centres[:, 0] + radii), kind="stable")
    coverage = 1.0 if ground else float(rng.uniform(0.7, 1.0))
    image = np.zeros((H, W, 3), np.float32)
    trans = np.ones((H, W), np.float32)  # light still reaching the leaves behind
    front = np.full((H, W), -1, np.int32)  # front-to-back index of the visible leaf, -1 = none yet
    drawn = []  # (radius, kind, soft, base row) in front-to-back order
    covered = 0.0
    for j in order:
        if not ground and covered >= coverage:
            break
        r = float(radii[j])
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        m, is_soft = _edge(rng, cfg, leaf_mask(rng, shape, r))
        s = m.shape[0]
        y0, x0 = int(round(centres[j, 0])) - s // 2, int(round(centres[j, 1])) - s // 2
        ya, yb, xa, xb = max(y0, 0), min(y0 + s, H), max(x0, 0), min(x0 + s, W)
        if ya >= yb or xa >= xb:
            continue
        a = m[ya - y0 : yb - y0, xa - x0 : xb - x0]
        t = trans[ya:yb, xa:xb]
        vis = t * a
        if float(vis.max()) < 1e-3:
            continue  # hidden behind nearer leaves
        tex, kind = bank.draw(rng, slice(ya, yb), slice(xa, xb))
        image[ya:yb, xa:xb] += tex * vis[..., None]
        k = len(drawn)
        f = front[ya:yb, xa:xb]
        f[(f < 0) & (a >= 0.5) & (t >= 0.5)] = k
        t *= 1 - a
        covered += float(vis.sum()) / (H * W)  # the light this leaf takes from those behind it
        drawn.append((r, kind, is_soft, min(y0 + s, H) - 1))
    bg, kind0 = bank.draw(rng, slice(0, H), slice(0, W))
    image += bg * trans[..., None]
    n = len(drawn)
    # back-to-front leaf index (1..n), 0 = background
    top = np.where(front >= 0, n - front, 0).astype(np.int32)
    drawn = drawn[::-1]
    kinds = [kind0] + [d[1] for d in drawn]
    if ground:
        u = _ground_depth(top, horizon, [d[3] for d in drawn])
        surfaces = None
    else:
        u, surfaces = _stack_depth(rng, cfg, top, n)
    smooth = np.isin(np.array(kinds), SMOOTH_KINDS)
    info = {"radii": [round(d[0], 3) for d in drawn], "kinds": kinds, "soft": [False] + [d[2] for d in drawn],
            "smooth_area": float(smooth[top].mean()), "layout": cfg.layout}
    if surfaces is not None:
        info["surfaces"] = int(surfaces)
    return {"image": np.clip(image, 0, 1).astype(np.float32), "inverse_depth": u, "top": top, "info": info}


def _stack_depth(rng: np.random.Generator, cfg: ProceduralConfig, top: np.ndarray, n: int):
    """Inverse depth of the ``stack`` layout: leaves grouped into surfaces by stacking order."""
    H, W = top.shape
    k = int(rng.integers(cfg.surfaces[0], min(cfg.surfaces[1], n + 1) + 1))
    # surface of each leaf (0 = background): non-decreasing in stacking order
    cuts = np.sort(rng.integers(1, n + 1, size=k - 1)) if k > 1 else np.zeros(0, np.int64)
    surface_of = np.searchsorted(cuts, np.arange(n + 1), side="right")
    levels = np.sort(rng.uniform(0.0, 1.0, k)) if k > 1 else np.array([0.5])
    if k > 1:  # spread to the full [0, 1] range and keep a minimum gap between surfaces
        levels = np.linspace(0, 1, k) * 0.5 + (levels - levels.min()) / max(np.ptp(levels), 1e-6) * 0.5
    u = np.zeros((H, W), np.float32)
    for j in range(k):
        gap_lo = levels[j] - levels[j - 1] if j > 0 else np.inf
        gap_hi = levels[j + 1] - levels[j] if j < k - 1 else np.inf
        amp = 0.45 * min(gap_lo, gap_hi) if k > 1 else 0.5
        sel = surface_of[top] == j
        if sel.any():
            u[sel] = (levels[j] + _relief(rng, cfg, H, W, float(amp)))[sel]
    return u, k


def _ground_depth(top: np.ndarray, horizon: int, base_rows: list[int]) -> np.ndarray:
    """Inverse depth of the ``ground`` layout: u grows linearly below the horizon (a ground plane
    seen from eye height); the sky and background are far (u = 0); each leaf stands upright at
    the ground's depth under its lowest row."""
    H, W = top.shape
    rows = np.arange(H, dtype=np.float32)
    ground_u = np.clip((rows - horizon) / max(H - horizon, 1), 0, 1)
    u = np.repeat(ground_u[:, None], W, axis=1)
    u[:horizon] = 0.0
    leaf_u = np.array([0.0] + [float(ground_u[max(b, horizon)]) for b in base_rows], np.float32)
    leaves = top > 0
    u[leaves] = leaf_u[top[leaves]]
    return u.astype(np.float32)


def procedural_cutout(rng: np.random.Generator, side: int, config: ProceduralConfig | None = None,
                      photos: Sequence[np.ndarray] = ()):
    """A generator shape as an object cut-out, textured like a leaf, with a few inner leaves.

    Args:
        rng: numpy generator.
        side: approximate longer side of the object, px.
        config: texture and edge knobs (its ``layout`` is ignored).
        photos: photo pool for ``photo`` textures.
    Returns:
        :class:`~blurmap.data.cutout.Cutout` named ``procedural:<shape>``.
    """
    from blurmap.data.cutout import crop_to_alpha

    cfg = config or ProceduralConfig()
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    mask = leaf_mask(rng, shape, side / 2.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.7)
    s = mask.shape[0]
    inner = procedural_scene(rng, (s, s), ProceduralConfig(
        leaves=(0, 6), radius=(0.08, 0.35), smooth_fraction=cfg.smooth_fraction, photo_fraction=cfg.photo_fraction,
        soft_edge_prob=cfg.soft_edge_prob, textures=cfg.textures, surfaces=(1, 1)), photos)["image"]
    return crop_to_alpha(inner, np.clip(mask, 0, 1), f"procedural:{shape}", pad=1)
