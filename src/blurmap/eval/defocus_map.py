"""Defocus-map quality on held-out synthetic dual-pixel scenes (the defocus-map acceptance bar; paper Tables 3 and 5).

The scenes are :func:`blurmap.synth.dp.make_dp_sample` renderings (layered planes / ramps,
occlusion-aware, linear light) of photos that the CPU recipes hold out of training
(``chelsea``, and scikit-image's ``camera``, which ``configs/defocus_map_starter.yaml`` also
holds out of its texture samples), with fixed seeds: scene ``i`` always comes from
``numpy.random.default_rng([seed, i])``. ``benchmarks/defocus_map_eval.py`` prints the tables;
``tests/test_defocus_map_starter.py`` checks the shipped starter on the same scenes.

The map error is the MAE of ``|CoC|`` in px: the unsigned radius is what sets the blur, and
what the paper's deconvolution protocol depends on. ``textured`` pixels have an all-in-focus
luminance gradient magnitude (central differences, ``numpy.gradient``) above a threshold:
on flat regions every CoC explains the views equally well, so no method can be scored there.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["HELDOUT_PHOTOS", "heldout_dp_scenes", "texture_mask", "map_errors"]

#: photos the benchmark scenes are rendered from (cycled)
HELDOUT_PHOTOS = ("chelsea", "camera")


def heldout_dp_scenes(count: int, size: tuple[int, int] = (192, 256), max_coc: float = 20.0,
                      photos: Sequence[str] = HELDOUT_PHOTOS, seed: int = 2026) -> list[dict]:
    """Held-out synthetic DP scenes with ground truth.

    Args:
        count: number of scenes; scene ``i`` uses photo ``photos[i % len(photos)]``.
        size: ``(H, W)`` of each scene in px.
        max_coc: largest ``|CoC|`` in px.
        photos: names from :data:`HELDOUT_PHOTOS`.
        seed: first entry of each scene's numpy seed ``[seed, i]``.
    Returns:
        list of dicts with float32 numpy arrays ``aif``, ``left``, ``right``, ``combined``
        ``(H, W, 3)`` sRGB in [0, 1], ``coc`` ``(H, W)`` signed px, plus ``info`` and a
        readable ``name``.
    Raises:
        ValueError: an unknown photo name.
    """
    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.dp import DPConfig, make_dp_sample

    bad = [p for p in photos if p not in HELDOUT_PHOTOS]
    if bad or not photos:
        raise ValueError(f"photos: expected names from {', '.join(HELDOUT_PHOTOS)}, got {list(photos)}")
    images = {p: bundled_image(p) for p in set(photos)}
    out = []
    for i in range(count):
        name = photos[i % len(photos)]
        s = make_dp_sample(images[name], np.random.default_rng([seed, i]), size, DPConfig(max_coc=max_coc))
        s["name"] = f"{name}#{i} ({s['info']['scene']}, peak {s['info']['peak_coc']:.1f} px)"
        out.append(s)
    return out


def texture_mask(aif: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """``(H, W)`` bool: AiF luminance (channel mean) gradient magnitude above ``threshold`` per px.

    The numpy face of :func:`blurmap.metrics.texture_mask` (the defocus-map recipe's
    validation metric), so training and benchmark count the same pixels as textured.
    """
    import torch

    from blurmap.metrics.texture import texture_mask as _texture_mask

    chw = torch.from_numpy(np.asarray(aif, dtype=np.float64).transpose(2, 0, 1))[None]
    return _texture_mask(chw, threshold)[0, 0].numpy()


def map_errors(coc: np.ndarray, true_coc: np.ndarray, aif: np.ndarray, threshold: float = 0.02,
               margin: int = 0) -> dict[str, float]:
    """Errors of one estimated defocus map.

    Args:
        coc: ``(H, W)`` estimated signed CoC in px.
        true_coc: ``(H, W)`` ground truth.
        aif: ``(H, W, 3)`` all-in-focus image (defines the textured pixels).
        threshold: texture threshold (see :func:`texture_mask`).
        margin: border pixels left out of every score (0 = the whole frame).
    Returns:
        ``{"mae": ..., "mae_textured": ..., "signed_mae_textured": ...}`` in px: MAE of
        ``|CoC|`` over all pixels and over textured ones, and MAE of the signed CoC over
        textured ones.
    """
    coc, true_coc = np.asarray(coc, np.float64), np.asarray(true_coc, np.float64)
    if coc.shape != true_coc.shape:
        raise ValueError(f"map {coc.shape} and ground truth {true_coc.shape} differ")
    keep = np.zeros(coc.shape, bool)
    keep[margin:coc.shape[0] - margin, margin:coc.shape[1] - margin] = True
    tex = texture_mask(aif, threshold) & keep
    err = np.abs(np.abs(coc) - np.abs(true_coc))
    return {"mae": float(err[keep].mean()),
            "mae_textured": float(err[tex].mean()) if tex.any() else float("nan"),
            "signed_mae_textured": float(np.abs(coc - true_coc)[tex].mean()) if tex.any() else float("nan")}
