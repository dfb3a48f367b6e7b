"""Procedural textures for synthetic scenes: flat colours, gradients, 1/f noise, stripes, text.

Every function draws from a numpy generator and returns a float32 ``(h, w, 3)`` sRGB texture in
``[0, 1]``. Natural images have power spectra close to ``1 / f^2`` (amplitude ``1 / f``); the
``noise`` texture draws its exponent around that, so shapes filled with it look like natural
surfaces at every scale, which is what makes dead-leaves scenes a usable stand-in for photos.

Kinds (:data:`TRAIN_KINDS`): ``flat`` and ``gradient`` (smooth: a sharp region with no texture,
the case a blur estimator must not call blurred), ``noise`` (1/f spectrum, random exponent and
palette), ``stripes`` (sine or square waves, random period and orientation), ``text`` (rows of
random characters in OpenCV's Hershey fonts) and ``photo`` (a random window of a photo, handled
by the scene generator). :data:`HELD_OUT_KINDS` (``voronoi`` cells and ``rings``) are drawn only by
the distribution-shift benchmark's scenes (:mod:`blurmap.synth.holdout`).
"""

from __future__ import annotations

import string

import cv2
import numpy as np

__all__ = ["TRAIN_KINDS", "HELD_OUT_KINDS", "SMOOTH_KINDS", "random_colour", "flat", "gradient", "noise_1f",
           "stripes", "text", "voronoi", "rings", "procedural_texture"]

TRAIN_KINDS = ("flat", "gradient", "noise", "stripes", "text", "photo")
HELD_OUT_KINDS = ("voronoi", "rings")
#: kinds with no texture (sharp but flat or smooth)
SMOOTH_KINDS = ("flat", "gradient")


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random sRGB colour, ``(3,)`` float32: uniform hue, saturation and value spread."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 255) ** 1.0, rng.uniform(20, 255)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _palette(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """Map ``(h, w)`` values in [0, 1] to colours between 2 or 3 random colours (piecewise linear)."""
    n = int(rng.integers(2, 4))
    cols = np.stack([random_colour(rng) for _ in range(n)])
    pos = values * (n - 1)
    i = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    t = (pos - i)[..., None].astype(np.float32)
    return (cols[i] * (1 - t) + cols[i + 1] * t).astype(np.float32)


def flat(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One random colour."""
    return np.broadcast_to(random_colour(rng), (h, w, 3)).astype(np.float32)


def gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear or radial gradient between two random colours."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.6:
        t = rng.uniform(0, 2 * np.pi)
        v = np.cos(t) * xx + np.sin(t) * yy
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        v = np.hypot(yy - cy, xx - cx)
    v = (v - v.min()) / max(float(v.max() - v.min()), 1e-6)
    a, b = random_colour(rng), random_colour(rng)
    return (a * (1 - v[..., None]) + b * v[..., None]).astype(np.float32)


def noise_1f(rng: np.random.Generator, h: int, w: int, exponent: tuple[float, float] = (1.6, 2.6)) -> np.ndarray:
    """Gaussian noise with power spectrum ``1 / f^e`` (``e`` uniform in ``exponent``), coloured.

    The field is normalised to [0, 1] after clipping at +-2.5 standard deviations and mapped
    through a random 2-3 colour palette; a random contrast keeps some of it subtle.
    """
    e = rng.uniform(*exponent)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    amp = f ** (-e / 2)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    field = np.fft.irfft2(spec, s=(h, w))
    field = field / max(float(field.std()), 1e-12)
    v = (np.clip(field, -2.5, 2.5) + 2.5) / 5.0
    c = rng.uniform(0.3, 1.0)
    v = 0.5 + c * (v - 0.5)
    return _palette(rng, v.astype(np.float32))


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sine or square-wave stripes, period 3-40 px, random orientation and two colours."""
    t = rng.uniform(0, np.pi)
    period = float(np.exp(rng.uniform(np.log(3.0), np.log(40.0))))
    k = np.float32(2 * np.pi / period)
    phase = (np.float32(np.cos(t)) * k) * np.arange(w, dtype=np.float32)[None, :] + \
        (np.float32(np.sin(t)) * k) * np.arange(h, dtype=np.float32)[:, None] + np.float32(rng.uniform(0, 2 * np.pi))
    v = 0.5 + 0.5 * np.sin(phase)
    if rng.random() < 0.5:
        v = (v > 0.5).astype(np.float32)
    a, b = random_colour(rng), random_colour(rng)
    return (a * (1 - v[..., None]) + b * v[..., None]).astype(np.float32)


_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_CHARS = string.ascii_letters + string.digits + "     .,-"


def text(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Rows of random characters (a page, a sign) in a random font, size and colour pair."""
    bg, fg = random_colour(rng), random_colour(rng)
    if float(np.abs(bg - fg).sum()) < 0.6:  # keep the glyphs visible
        fg = 1.0 - bg
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = bg
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    scale = float(np.exp(rng.uniform(np.log(0.3), np.log(2.5))))
    thick = max(1, int(round(scale * rng.uniform(1.0, 2.5))))
    line = max(6, int(30 * scale))
    colour = tuple(float(c) for c in fg)
    y = int(rng.integers(line // 2, line + 1))
    while y < h + line:
        n = int(rng.integers(4, 40))
        s = "".join(_CHARS[int(k)] for k in rng.integers(0, len(_CHARS), n))
        cv2.putText(canvas, s, (int(rng.integers(-line, line)), y), font, scale, colour, thick, cv2.LINE_AA)
        y += int(line * rng.uniform(1.1, 1.8))
    return canvas


def voronoi(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Voronoi cells of random colours with thin dark borders (held out of training)."""
    n = int(rng.integers(6, 60))
    pts = np.stack([rng.uniform(0, h, n), rng.uniform(0, w, n)], 1).astype(np.float32)
    cols = np.stack([random_colour(rng) for _ in range(n)])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = (yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2
    order = np.argsort(d, axis=-1)
    d1 = np.take_along_axis(d, order[..., :1], -1)[..., 0]
    d2 = np.take_along_axis(d, order[..., 1:2], -1)[..., 0] if n > 1 else d1 + 1e6
    out = cols[order[..., 0]]
    border = (np.sqrt(d2) - np.sqrt(d1)) < 1.5
    out[border] *= 0.35
    return out.astype(np.float32)


def rings(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Concentric wood-like rings with a low-frequency warp (held out of training)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(-0.5 * h, 1.5 * h), rng.uniform(-0.5 * w, 1.5 * w)
    warp = noise_1f(rng, h, w, (3.0, 3.5)).mean(-1) * rng.uniform(5, 25)
    period = rng.uniform(4, 30)
    v = 0.5 + 0.5 * np.sin(2 * np.pi * (np.hypot(yy - cy, xx - cx) + warp) / period)
    return _palette(rng, v.astype(np.float32))


_MAKERS = {"flat": flat, "gradient": gradient, "noise": noise_1f, "stripes": stripes, "text": text,
           "voronoi": voronoi, "rings": rings}


def procedural_texture(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Texture of a named kind (any of :data:`TRAIN_KINDS` but ``photo``, or :data:`HELD_OUT_KINDS`).

    Returns:
        ``(h, w, 3)`` float32 sRGB in [0, 1] (a fresh, writable array).
    """
    if kind not in _MAKERS:
        raise ValueError(f"unknown procedural texture {kind!r}; known: {', '.join(_MAKERS)}")
    return np.ascontiguousarray(np.clip(_MAKERS[kind](rng, int(h), int(w)), 0.0, 1.0), dtype=np.float32)
