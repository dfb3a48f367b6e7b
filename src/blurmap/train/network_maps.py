"""DefocusMapNet maps of a DPDD-layout split, computed once and cached for training (``maps: net``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from blurmap.errors import ConfigError
from blurmap.files import atomic_destination

__all__ = ["cache_network_maps"]


def cache_network_maps(root, split: str, weights: str, cache_dir: str, device: str = "cpu") -> Path:
    """Run a trained DefocusMapNet once per frame of ``split`` and store ``<name>.npy`` maps.

    The network is loaded with :func:`blurmap.weights.load_network`; it is called as
    ``model.predict(left, right)["map"]`` when it has ``predict``, else ``model(left, right)``.
    Existing cache files are reused.

    Returns:
        the cache folder.
    """
    from blurmap.data.dpdd import list_dpdd
    from blurmap.io import image_to_tensor, read_image
    from blurmap.weights import load_network as load_model

    out = Path(cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = list_dpdd(root, split, require_dp=False)
    todo = [it for it in items if not (out / f"{it.name}.npy").is_file()]
    if not todo:
        return out
    model = load_model(weights).eval().to(device)
    for it in todo:
        if it.left is None or it.right is None:
            raise ConfigError(f"{root}: maps=net needs the DP views of {it.name} ({split}_l/{split}_r)")
        left = image_to_tensor(read_image(it.left).array).to(device)
        right = image_to_tensor(read_image(it.right).array).to(device)
        with torch.no_grad():
            m = model.predict(left, right)["map"] if hasattr(model, "predict") else model(left, right)
        with atomic_destination(out / f"{it.name}.npy") as tmp:
            np.save(tmp, m[0, 0].float().cpu().numpy())
    return out
