"""How the evaluation reads benchmark images at a protocol bit depth.

The published single-image DPDD numbers of DRBNet, LaKDNet and Restormer come from scripts
that read every PNG with OpenCV's default ``cv2.imread(path)`` (``IMREAD_COLOR``, 8-bit). On
a 16-bit PNG that keeps the **high byte** of each sample: ``v8 = v16 >> 8`` (libpng's
``png_set_strip_16``; checked against OpenCV 4.14 for all 65536 values in
``tests/test_eval_protocol.py``), not the rounded ``round(v16 / 257)``. The blurred input
and the ground truth are then ``v8 / 255``. ``--bits 8`` reproduces exactly that (the
conversion is :func:`blurmap.metrics.to_8bit_like_opencv`, which ``blurmap metrics --bits 8``
uses too); ``--bits 16`` reads the files as stored (16-bit PNGs keep all 16 bits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blurmap.metrics import to_8bit_like_opencv

__all__ = ["PEERS_BY_BITS", "protocol_note", "read_protocol_image", "to_8bit_like_opencv"]

#: published single-image DPDD numbers by the protocol they were computed in (docs/metrics.md)
PEERS_BY_BITS = {
    8: ("DRBNet", "LaKDNet (single)", "Restormer (single)", "IFAN"),
    16: ("DPDNet", "IFAN (16-bit checkpoint)", "LaKDNet (dual-pixel)"),
}


def protocol_note(bits: int) -> str:
    """One line saying how ``bits`` reads the images and which published numbers share it."""
    how = ("16-bit PNGs keep their high byte (v >> 8), as OpenCV's default imread"
           if bits == 8 else "files at their stored 16-bit levels")
    return f"Protocol: {bits}-bit ({how}); comparable with: {', '.join(PEERS_BY_BITS[bits])}."


def read_protocol_image(path: str | Path, bits: int) -> np.ndarray:
    """Read a benchmark image as the ``bits``-bit protocol sees it.

    Args:
        path: image file.
        bits: 16 (as stored) or 8 (OpenCV's default 8-bit reading, see the module docstring).

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].

    Raises:
        ImageReadError: unreadable file (one line naming it).
    """
    from blurmap.io import read_image

    img = read_image(path)
    if bits == 16:
        return np.asarray(img.array, dtype=np.float32)
    return to_8bit_like_opencv(img.array, img.bits).astype(np.float32)
