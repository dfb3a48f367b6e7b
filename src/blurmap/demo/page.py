"""The pieces every demo section uses: the context it gets, what it returns, figure helpers."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["MARKER", "Section", "DemoContext", "SectionBuilder", "panel_figure", "figure_html"]

MARKER = "<!-- blurmap-demo -->"


@dataclass
class Section:
    """One part of the page: a heading and an HTML fragment (figures as relative links)."""

    title: str
    html: str


@dataclass
class DemoContext:
    """What a section builder gets.

    Attributes:
        root: the (temporary) output folder; figures go to ``root / "figures"``.
        seed: base seed: builders derive their generators from it.
    """

    root: Path
    seed: int = 0

    def figure(self, name: str) -> tuple[Path, str]:
        """Path to write figure ``name`` (a PNG file name) and its link relative to index.html."""
        d = self.root / "figures"
        d.mkdir(exist_ok=True)
        return d / name, f"figures/{name}"

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])


SectionBuilder = Callable[[DemoContext], Section]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def panel_figure(path: Path, panels: list[tuple[str, np.ndarray, dict]], colorbar: str | None = None) -> None:
    """Save a row of images with titles; ``panels`` = (title, array, imshow kwargs)."""
    plt = _pyplot()
    h, w = panels[0][1].shape[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) * w / max(h, w) + 0.6, 2.9), squeeze=False)
    for ax, (title, arr, kw) in zip(axes[0], panels):
        im = ax.imshow(np.clip(arr, kw.pop("vmin_clip", 0.0), 1.0) if arr.ndim == 3 else arr, **kw)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        if colorbar and arr.ndim == 2 and kw.get("cmap") not in (None, "gray"):
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(colorbar, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_html(link: str, caption: str) -> str:
    cap = html.escape(caption)
    return f'<figure><a href="{link}"><img src="{link}" alt="{cap}"></a><figcaption>{cap}</figcaption></figure>\n'
