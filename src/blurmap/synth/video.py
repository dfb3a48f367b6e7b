"""Blur from high-frame-rate video (the LODE / REDS / GOPRO protocol).

The video is cut into consecutive, non-overlapping windows; each window's length is a random
odd number in ``[7, 13]`` (LODE §3). The frames of a window are averaged in linear light
(gamma 2.2, LODE supplementary A eq. 6-7) -> the blurred image; its middle frame is the sharp
ground truth. Output: ``OUT/blur/NNNNNN.png``, ``OUT/sharp/NNNNNN.png`` + ``manifest.json``
(which frames made which pair). Frames are streamed: at most one window is held in memory as
a running sum.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from blurmap.errors import BlurmapError, ImageReadError
from blurmap.io import list_images, read_image, write_image
from blurmap.physics.crf import CRF
from blurmap.physics.motion import sample_num_frames
from blurmap.synth._output import staged_output, write_manifest

__all__ = ["iter_frames", "generate_video"]


def iter_frames(frames: str | os.PathLike | None = None, video: str | os.PathLike | None = None) -> Iterator[tuple[str, np.ndarray, int]]:
    """Yield ``(name, (H, W, 3) float32 RGB in [0, 1], bits)`` from a frame folder or a video file.

    Args:
        frames: folder of frame images (sorted by file name).
        video: video file (read with OpenCV's ``VideoCapture``; 8-bit).
    Raises:
        BlurmapError: neither or both given, folder empty/missing, video unreadable.
    """
    if (frames is None) == (video is None):
        raise BlurmapError("give exactly one of --frames DIR or --video FILE")
    if frames is not None:
        folder = Path(frames)
        if not folder.is_dir():
            raise BlurmapError(f"{folder}: frame folder not found")
        paths = list_images(folder)
        if not paths:
            raise BlurmapError(f"{folder}: no image files in this folder")
        for p in paths:
            img = read_image(p)
            yield p.name, img.array, img.bits
        return
    import cv2

    path = Path(video)
    if not path.is_file():
        raise BlurmapError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BlurmapError(f"{path}: cannot open video (unknown format or codec)")
        k = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if bgr.ndim == 2:
                bgr = np.repeat(bgr[:, :, None], 3, axis=2)
            scale = 65535.0 if bgr.dtype == np.uint16 else 255.0
            yield f"frame{k:06d}", np.ascontiguousarray(bgr[:, :, 2::-1], dtype=np.float32) / scale, 8 if scale == 255 else 16
            k += 1
        if k == 0:
            raise BlurmapError(f"{path}: no frame could be decoded")
    finally:
        cap.release()


def generate_video(
    out: str | os.PathLike,
    *,
    frames: str | os.PathLike | None = None,
    video: str | os.PathLike | None = None,
    count: int | None = None,
    seed: int = 0,
    gamma: float = 2.2,
    min_frames: int = 7,
    max_frames: int = 13,
    overwrite: bool = False,
) -> Path:
    """Average random odd-length windows of consecutive frames into blurred/sharp pairs.

    Args:
        out: output folder (must not exist or be empty, unless ``overwrite``).
        frames: folder of consecutive frames, or
        video: a video file.
        count: at most this many pairs (default: as many windows as the video holds).
        seed: seed of the window lengths.
        gamma: CRF power law (LODE: 2.2).
        min_frames, max_frames: window length range (odd values only; LODE: 7..13).
        overwrite: replace a non-empty ``out``.
    Returns:
        The output folder. Nothing is left behind on error.
    Raises:
        BlurmapError: bad input, frames of different sizes, fewer frames than one window.
    """
    if count is not None and count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    crf = CRF(gamma=gamma)
    source = frames if frames is not None else video
    out = Path(out)
    with staged_output(out, overwrite) as tmp:
        (tmp / "blur").mkdir()
        (tmp / "sharp").mkdir()
        pairs = []
        it = iter_frames(frames, video)
        shape = None
        done = False
        while not done and (count is None or len(pairs) < count):
            n = sample_num_frames(rng, min_frames, max_frames)
            total, mid, names, bits = None, None, [], 8
            for j in range(n):
                try:
                    name, arr, b = next(it)
                except StopIteration:
                    done = True
                    break
                if shape is None:
                    shape = arr.shape
                elif arr.shape != shape:
                    got, first = f"{arr.shape[1]}x{arr.shape[0]}", f"{shape[1]}x{shape[0]}"
                    raise ImageReadError(name, f"frame size {got} differs from the first frame's {first}")
                lin = crf.to_linear(torch.from_numpy(arr).permute(2, 0, 1)[None].to(torch.float64))
                total = lin if total is None else total + lin
                if j == n // 2:
                    mid = arr
                names.append(name)
                bits = max(bits, b)
            if done:
                break  # an incomplete last window is dropped
            blur = crf.to_encoded(total / n)[0].permute(1, 2, 0).numpy()
            k = len(pairs)
            fname = f"{k:06d}.png"
            write_image(tmp / "blur" / fname, blur, bits=bits)
            write_image(tmp / "sharp" / fname, mid, bits=bits)
            pairs.append({"file": fname, "num_frames": n, "first": names[0], "middle": names[n // 2], "last": names[-1]})
        if not pairs:
            raise BlurmapError(f"{source}: too few frames for one window of {min_frames}..{max_frames} frames")
        write_manifest(
            tmp,
            {
                "generator": "blurmap synth video",
                "layout": "paired folders: blur/, sharp/ (same file names)",
                "source": str(source),
                "seed": seed,
                "gamma": gamma,
                "frames_per_window": [min_frames, max_frames],
                "pairs": pairs,
            },
        )
    return out
