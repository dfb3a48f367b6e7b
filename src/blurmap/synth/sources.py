"""Where generators take their scenes and objects from.

A *source spec* is a string: ``"bundled"`` (the bundled photos), ``"procedural"`` (unlimited
dead-leaves scenes, :mod:`blurmap.synth.procedural`), a folder of images, or a comma-separated
mix of those (``"procedural,bundled"``: sample ``i`` comes from part ``i mod 2``). Object specs
are the same with ``"bundled"`` (cut-outs of the bundled photos), ``"procedural"`` (generator
shapes textured like leaves) and a PASCAL VOC 2012 root.

Procedural scenes and objects take their photo textures from the training photo pool
(:func:`training_photos`: the bundled photos and the scikit-image texture samples). Nothing a
spec can name reaches the content held out for the distribution-shift benchmark
(:mod:`blurmap.synth.holdout`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from blurmap.data.cutout import Cutout
from blurmap.errors import BlurmapError
from blurmap.io import list_images, read_image
from blurmap.synth.bundled import BUNDLED_NAMES, TEXTURE_NAMES, bundled_image, bundled_objects

BUNDLED = "bundled"
PROCEDURAL = "procedural"
#: size of procedural scenes when a generator is given none: DPDD's frames
DEFAULT_PROCEDURAL_SIZE = (1120, 1680)


@functools.lru_cache(maxsize=1)
def _training_photos() -> tuple[np.ndarray, ...]:
    photos = tuple(bundled_image(n) for n in BUNDLED_NAMES + TEXTURE_NAMES)
    for p in photos:
        p.setflags(write=False)
    return photos


def training_photos() -> list[np.ndarray]:
    """The photos procedural textures may show: bundled photos and texture samples (read-only)."""
    return list(_training_photos())


def split_spec(spec: str | os.PathLike, flag: str = "--images", missing: str = "image folder not found") -> list[str]:
    """The parts of a source spec, each checked: a known name or an existing folder.

    Args:
        spec: the spec.
        flag: the option name for error messages.
        missing: what the error says of a part that is neither a known name nor a folder.
    Raises:
        BlurmapError: an empty part, an unknown name, or a missing folder (one line).
    """
    text = str(spec)
    if Path(text).is_dir():
        return [text]
    parts = [p.strip() for p in text.split(",")]
    for p in parts:
        if not p:
            raise BlurmapError(f"{flag}: empty source in {text!r}")
        if p not in (BUNDLED, PROCEDURAL) and not Path(p).is_dir():
            raise BlurmapError(f"{p}: {missing} ({flag} takes 'bundled', 'procedural', a folder, "
                               f"or a comma-separated mix)")
    return parts


class ImageSource:
    """A list of images: the bundled photos (``"bundled"``) or the image files of a folder.

    Args:
        spec: ``"bundled"``, a folder path (image files directly inside it, sorted by name), or
            a REDS root / ``train_sharp`` folder (the frames of all its clips, see
            :func:`blurmap.data.reds.reds_sharp_frames`).
    Raises:
        BlurmapError: the folder does not exist or holds no image file.
    """

    def __init__(self, spec: str | os.PathLike):
        self.spec = str(spec)
        if self.spec == BUNDLED:
            self.names = list(BUNDLED_NAMES)
            self.paths = None
        else:
            from blurmap.data.reds import reds_sharp_frames

            folder = Path(spec)
            if not folder.is_dir():
                raise BlurmapError(f"{folder}: image folder not found")
            reds = reds_sharp_frames(folder)  # a REDS root: the sharp frames of all its clips
            self.paths = list_images(folder) if reds is None else reds
            if not self.paths:
                raise BlurmapError(f"{folder}: no image files (png, jpg, tif, ...) in this folder")
            self.names = [p.name if reds is None else f"{p.parent.name}/{p.name}" for p in self.paths]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> tuple[np.ndarray, int]:
        """Image ``index`` as float32 ``(H, W, 3)`` in ``[0, 1]`` and its bit depth."""
        if self.paths is None:
            return bundled_image(self.names[index]), 8
        img = read_image(self.paths[index])
        return img.array, img.bits


class SceneSource:
    """Sharp scenes from a source spec (photos, procedural scenes, or a mix).

    Args:
        spec: see the module docstring.
        procedural: :class:`~blurmap.synth.procedural.ProceduralConfig` of procedural scenes.
        flag: option name for error messages.
    """

    def __init__(self, spec: str | os.PathLike, procedural=None, flag: str = "--images"):
        self.spec = str(spec)
        self.parts = split_spec(spec, flag)
        self.procedural = procedural
        self.photos = {p: ImageSource(p) for p in self.parts if p != PROCEDURAL}
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    @property
    def photos_only(self) -> bool:
        return PROCEDURAL not in self.parts

    def __len__(self) -> int:
        """Number of distinct photos (procedural parts count as one each: they never repeat)."""
        return sum(len(self.photos[p]) if p in self.photos else 1 for p in self.parts)

    def _photo(self, part: str, k: int) -> tuple[np.ndarray, str]:
        src = self.photos[part]
        if src.paths is None:  # bundled photos are few and small: keep them
            key = (part, k)
            if key not in self._cache:
                self._cache[key] = src.load(k)[0]
            return self._cache[key], src.names[k]
        return src.load(k)[0], src.names[k]

    def draw(self, i: int, rng: np.random.Generator, size: tuple[int, int] | None) -> dict:
        """Scene ``i``: part ``i mod parts``; a photo part shows photo ``(i // parts) mod len``.

        Returns:
            dict: ``image`` ``(H, W, 3)`` float32 (a photo at its own size, a procedural scene
            at ``size`` or :data:`DEFAULT_PROCEDURAL_SIZE`), ``inverse_depth`` (procedural
            scenes) or None, ``name``, ``part``.
        """
        part = self.parts[i % len(self.parts)]
        j = i // len(self.parts)
        if part == PROCEDURAL:
            from blurmap.synth.procedural import procedural_scene

            scene = procedural_scene(rng, size or DEFAULT_PROCEDURAL_SIZE, self.procedural, _training_photos())
            return {"image": scene["image"], "inverse_depth": scene["inverse_depth"], "name": "procedural",
                    "part": part, "info": scene["info"]}
        image, name = self._photo(part, j % len(self.photos[part]))
        return {"image": image, "inverse_depth": None, "name": name, "part": part}

    def draw_random(self, rng: np.random.Generator, size: tuple[int, int] | None) -> dict:
        """A random scene. A single photo part draws one integer (its photo index) from ``rng``."""
        if len(self.parts) == 1 and self.parts[0] != PROCEDURAL:
            k = int(rng.integers(len(self.photos[self.parts[0]])))
            image, name = self._photo(self.parts[0], k)
            return {"image": image, "inverse_depth": None, "name": name, "part": self.parts[0]}
        part = int(rng.integers(len(self.parts)))
        if self.parts[part] == PROCEDURAL:
            return self.draw(part, rng, size)
        src = self.photos[self.parts[part]]
        return self.draw(part + len(self.parts) * int(rng.integers(len(src))), rng, size)


class BundledObjects:
    """The bundled object cut-outs as an object bank (same API as :class:`VOCObjects`)."""

    def __init__(self):
        self.items = bundled_objects()

    def __len__(self) -> int:
        return len(self.items)

    def random_cutout(self, rng: np.random.Generator) -> Cutout:
        return self.items[int(rng.integers(len(self.items)))]


class ProceduralObjects:
    """Generator shapes textured like procedural leaves, longer side log-uniform in ``sides`` px.

    Args:
        sides: range of the object's longer side, px.
        config: texture and edge knobs (:class:`~blurmap.synth.procedural.ProceduralConfig`).
        photos: photo pool for ``photo`` textures (default: the training photos).
    """

    def __init__(self, sides: tuple[int, int] = (48, 320), config=None, photos=None):
        self.sides, self.config = sides, config
        self.photos = _training_photos() if photos is None else tuple(photos)

    def __len__(self) -> int:
        return 1

    def random_cutout(self, rng: np.random.Generator) -> Cutout:
        from blurmap.synth.procedural import procedural_cutout

        side = float(np.exp(rng.uniform(np.log(self.sides[0]), np.log(self.sides[1]))))
        return procedural_cutout(rng, int(round(side)), self.config, self.photos)


class MixedObjects:
    """Several object banks; each cut-out comes from a bank drawn uniformly."""

    def __init__(self, banks: list):
        self.banks = banks

    def __len__(self) -> int:
        return sum(len(b) for b in self.banks)

    def random_cutout(self, rng: np.random.Generator) -> Cutout:
        return self.banks[int(rng.integers(len(self.banks)))].random_cutout(rng)


def object_bank(spec: str | os.PathLike, min_area: int = 2000):
    """An object bank for a spec: ``"bundled"``, ``"procedural"``, a VOC root, or a comma mix.

    A single part returns that bank itself (:class:`BundledObjects`,
    :class:`ProceduralObjects` or :class:`blurmap.data.voc.VOCObjects`, which skips instances
    smaller than ``min_area`` px); a mix returns :class:`MixedObjects`.
    """
    banks = []
    for part in split_spec(spec, "--objects", "not a PASCAL VOC 2012 folder (no such folder)"):
        if part == BUNDLED:
            banks.append(BundledObjects())
        elif part == PROCEDURAL:
            banks.append(ProceduralObjects())
        else:
            from blurmap.data.voc import VOCObjects

            banks.append(VOCObjects(part, min_area=min_area))
    return banks[0] if len(banks) == 1 else MixedObjects(banks)
