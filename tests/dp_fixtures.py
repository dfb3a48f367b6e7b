"""DPDD-layout fixtures whose dual-pixel views are rendered from a known CoC map."""

from pathlib import Path

import numpy as np
import torch

from blurmap.io import write_image
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import dp_kernel_stack


def write_dp_dpdd(root: Path, splits: dict[str, int], seed: int, with_coc: bool = False) -> Path:
    """Write ``{split: frames}`` of 40x48 16-bit DPDD frames (random sharp images, views blurred
    by the eq. 3 kernels with a CoC ramp from -3 to +3 px); with ``with_coc`` also the
    ground-truth ``{split}_c/coc/*.npy`` maps. Returns ``root``."""
    rng = np.random.default_rng(seed)
    stack = dp_kernel_stack(4)
    folders = ("_c/source", "_c/target", "_l/source", "_r/source") + (("_c/coc",) if with_coc else ())
    for split, n in splits.items():
        for d in folders:
            (root / f"{split}{d}").mkdir(parents=True)
        for i in range(n):
            sharp = torch.from_numpy(rng.random((3, 40, 48)).astype(np.float32))[None]
            coc = torch.linspace(-3, 3, 48).expand(1, 1, 40, 48).contiguous()
            views = {v: defocus_blur(sharp, coc, stack, v)[0].permute(1, 2, 0).clamp(0, 1).numpy()
                     for v in ("left", "right", "combined")}
            stem = f"1P0A{100 + 2 * i}"
            write_image(root / f"{split}_c/source/{stem}.png", views["combined"], bits=16)
            write_image(root / f"{split}_c/target/1P0A{101 + 2 * i}.png", sharp[0].permute(1, 2, 0).numpy(), bits=16)
            write_image(root / f"{split}_l/source/{stem}_L.png", views["left"], bits=16)
            write_image(root / f"{split}_r/source/{stem}_R.png", views["right"], bits=16)
            if with_coc:
                np.save(root / f"{split}_c/coc/{stem}.npy", coc[0, 0].numpy())
    return root
