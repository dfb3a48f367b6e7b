"""Camera effects for synthetic data: tone curves, Poisson-Gaussian noise, vignetting, JPEG.

Each effect is a documented knob of :class:`CameraConfig`, off by default (the generators then
produce exactly what the blur physics gives). A config is a *distribution*: every sample draws
its own tone curve, noise level, vignetting and JPEG quality from it (:meth:`CameraConfig.draw`).

- **Tone curve** (``tone_curves``): the camera response between encoded values and linear light,
  used by the renderers for blur in linear light. ``gamma2.2`` is both papers' model; ``srgb`` is
  the IEC 61966-2-1 curve (linear toe); ``gamma2.0`` / ``gamma2.6`` bracket it. ``filmic`` (an
  S-shaped curve with a soft shoulder) is held out of training for the distribution-shift
  benchmark.
- **Noise** (``noise``, ``read_noise``): Poisson-Gaussian sensor noise in linear light, variance
  ``a * x + b`` with ``a`` uniform in ``[0, noise]`` and ``sqrt(b)`` uniform in ``[0, read_noise]``.
- **Vignetting** (``vignetting``): lens light fall-off ``1 - v * (d / d_corner)^2`` in linear light,
  ``v`` uniform in ``[0, vignetting]``.
- **JPEG** (``jpeg_prob``, ``jpeg_quality``): with that probability, the 8-bit JPEG round trip at a
  quality uniform in the range (OpenCV's encoder, 4:2:0 chroma).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from blurmap.errors import ConfigError
from blurmap.physics.crf import CRF

__all__ = ["TRAIN_TONE_CURVES", "HELD_OUT_TONE_CURVES", "tone_curve", "CameraConfig", "CameraDraw"]

TRAIN_TONE_CURVES = ("gamma2.2", "srgb", "gamma2.0", "gamma2.6")
HELD_OUT_TONE_CURVES = ("filmic",)


def _srgb_table(n: int = 1024) -> np.ndarray:
    v = np.linspace(0.0, 1.0, n)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _filmic_table(n: int = 1024) -> np.ndarray:
    # encoded = S(linear): a log-like toe and a soft shoulder (a rational tone-mapping curve)
    x = np.linspace(0.0, 1.0, 8 * n) * 4.0
    y = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)
    y = y / y[-1]
    lin = np.linspace(0.0, 1.0, 8 * n)
    enc = np.linspace(0.0, 1.0, n)
    return np.interp(enc, y, lin)  # encoded -> linear (inverse CRF), strictly increasing


def tone_curve(name: str) -> CRF:
    """The camera response of a named tone curve (:data:`TRAIN_TONE_CURVES`, :data:`HELD_OUT_TONE_CURVES`)."""
    if name.startswith("gamma"):
        try:
            g = float(name[5:])
        except ValueError:
            g = -1.0
        if not 1.0 <= g <= 3.0:
            raise ConfigError(f"tone curve {name!r}: gammaG needs 1 <= G <= 3")
        return CRF(gamma=g)
    tables = {"srgb": _srgb_table, "filmic": _filmic_table}
    if name not in tables:
        raise ConfigError(f"unknown tone curve {name!r}; known: {', '.join(TRAIN_TONE_CURVES + HELD_OUT_TONE_CURVES)}")
    t = tables[name]()
    t = np.maximum.accumulate(t + np.arange(t.size) * 1e-9)  # strictly increasing for the table CRF
    return CRF(table=torch.as_tensor(np.repeat(t[:, None], 3, axis=1), dtype=torch.float32))


@dataclass(frozen=True)
class CameraDraw:
    """One sample's camera: its response and the effect parameters drawn for it."""

    tone: str
    crf: CRF
    noise: tuple[float, float] | None
    vignetting: float
    jpeg_quality: int | None

    def info(self) -> dict:
        return {"tone": self.tone, "noise": None if self.noise is None else [round(v, 8) for v in self.noise],
                "vignetting": round(self.vignetting, 4), "jpeg_quality": self.jpeg_quality}


@dataclass(frozen=True)
class CameraConfig:
    """Distribution of camera effects (see the module docstring; all off by default)."""

    tone_curves: tuple[str, ...] = ("gamma2.2",)
    noise: float = 0.0
    read_noise: float = 0.0
    vignetting: float = 0.0
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 95)

    def __post_init__(self):
        if not self.tone_curves:
            raise ConfigError("camera tone_curves must name at least one curve")
        for t in self.tone_curves:
            tone_curve(t)
        if self.noise < 0 or self.read_noise < 0:
            raise ConfigError(f"camera noise levels must be >= 0, got {self.noise}, {self.read_noise}")
        if not 0 <= self.vignetting < 1:
            raise ConfigError(f"camera vignetting must be in [0, 1), got {self.vignetting}")
        if not 0 <= self.jpeg_prob <= 1:
            raise ConfigError(f"camera jpeg_prob must be in [0, 1], got {self.jpeg_prob}")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise ConfigError(f"camera jpeg_quality must satisfy 1 <= min <= max <= 100, got {self.jpeg_quality}")

    @property
    def is_identity(self) -> bool:
        return self == CameraConfig()

    def to_dict(self) -> dict:
        return asdict(self)

    def draw(self, rng: np.random.Generator) -> CameraDraw:
        """Draw one sample's camera. The identity config draws nothing from ``rng``."""
        if self.is_identity:
            return CameraDraw("gamma2.2", CRF(gamma=2.2), None, 0.0, None)
        tone = self.tone_curves[int(rng.integers(len(self.tone_curves)))]
        a = float(rng.uniform(0, self.noise)) if self.noise > 0 else 0.0
        b = float(rng.uniform(0, self.read_noise)) ** 2 if self.read_noise > 0 else 0.0
        v = float(rng.uniform(0, self.vignetting)) if self.vignetting > 0 else 0.0
        q = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)) if rng.random() < self.jpeg_prob else None
        return CameraDraw(tone, tone_curve(tone), (a, b) if (a or b) else None, v, q)


def vignette_gain(h: int, w: int, v: float) -> torch.Tensor:
    """``(1, h, w)`` lens fall-off ``1 - v (d / d_corner)^2`` (1 at the centre)."""
    yy = torch.linspace(-1.0, 1.0, h)[:, None] if h > 1 else torch.zeros(1, 1)
    xx = torch.linspace(-1.0, 1.0, w)[None, :] if w > 1 else torch.zeros(1, 1)
    return (1.0 - v * (yy * yy + xx * xx) / 2.0)[None]


def add_noise(lin: torch.Tensor, noise: tuple[float, float], rng: np.random.Generator) -> torch.Tensor:
    """Poisson-Gaussian noise (variance ``a x + b``) on linear light, from ``rng`` (a new tensor)."""
    a, b = noise
    z = torch.from_numpy(rng.standard_normal(tuple(lin.shape)).astype(np.float32)).to(lin.dtype)
    return lin + (a * lin.clamp_min(0) + b).sqrt() * z


def jpeg_round_trip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """``(3, H, W)`` encoded image through an 8-bit JPEG at ``quality`` (OpenCV), back to float32."""
    arr = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)[..., ::-1]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(arr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise RuntimeError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
