"""``blurmap demo``: an HTML page of examples built from the bundled photos.

The page is a list of *sections*; each section builder gets a :class:`DemoContext` (where to put
figures, the seed) and returns a :class:`Section` (a title and an HTML fragment with relative
links to its PNG figures). Add a section by appending a builder to :data:`SECTIONS` (or passing
``sections=`` to :func:`build_demo`) -- e.g. deblurring results next to the synthetic inputs::

    from blurmap import demo
    demo.SECTIONS.append(my_builder)   # my_builder(ctx) -> demo.Section

The folder is written all-or-nothing (temp folder + rename). A folder that holds a previous
demo (its ``index.html`` carries a marker) is replaced; any other non-empty folder is refused
unless ``overwrite``.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from blurmap.demo.deblur import defocus_deblur_section, local_deblur_section
from blurmap.demo.page import MARKER, DemoContext, Section, SectionBuilder, figure_html, panel_figure
from blurmap.errors import BlurmapError
from blurmap.synth._output import staged_output

__all__ = [
    "Section", "DemoContext", "SECTIONS", "build_demo", "dual_pixel_section", "local_blur_section",
    "defocus_deblur_section", "local_deblur_section",
]

def dual_pixel_section(ctx: DemoContext, photos=("chelsea", "coffee", "motorcycle_left"), size=(240, 360), max_coc=12.0) -> Section:
    """Synthetic dual-pixel defocus: AiF | left | right | combined | signed CoC map."""
    from blurmap.synth.bundled import bundled_disparity, bundled_image
    from blurmap.synth.dp import DPConfig, make_dp_sample

    parts = []
    for k, name in enumerate(photos):
        disp = bundled_disparity()[1] if name == "motorcycle_left" else None
        s = make_dp_sample(bundled_image(name), ctx.rng(1, k), size, DPConfig(max_coc=max_coc), disp)
        path, link = ctx.figure(f"dp_{k}_{name}.png")
        m = float(np.abs(s["coc"]).max()) or 1.0
        panel_figure(
            path,
            [
                ("all-in-focus", s["aif"], {}),
                ("left view", s["left"], {}),
                ("right view", s["right"], {}),
                ("combined", s["combined"], {}),
                ("CoC (px)", s["coc"], {"cmap": "coolwarm", "vmin": -m, "vmax": m}),
            ],
            colorbar="signed CoC, px",
        )
        info = s["info"]
        parts.append(
            figure_html(link, f"{name}: scene '{info['scene']}', peak |CoC| {info['peak_coc']:.1f} px "
                         "(red = behind the focal plane, blue = in front)")  # fmt: skip
        )
    return Section("Dual-pixel defocus (synthetic, with ground-truth defocus map)", "".join(parts))


def local_blur_section(ctx: DemoContext, count: int = 3, size=(320, 480)) -> Section:
    """LODE local blur synthesis: sharp | blurred | mask."""
    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.local import make_local_sample
    from blurmap.synth.sources import BundledObjects

    bank = BundledObjects()
    parts = []
    backgrounds = ("motorcycle_left", "coffee", "astronaut")
    for k in range(count):
        name = backgrounds[k % len(backgrounds)]
        s = make_local_sample(bundled_image(name), bank, ctx.rng(2, k), size)
        path, link = ctx.figure(f"local_{k}_{name}.png")
        panel_figure(
            path,
            [
                ("sharp (middle frame)", s["sharp"].permute(1, 2, 0).numpy(), {}),
                ("blurred", s["blur"].permute(1, 2, 0).numpy(), {}),
                ("mask", s["mask"][0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1}),
            ],
        )
        moving = ", ".join(m["object"].replace("bundled:", "") for m in s["info"]["moving"])
        parts.append(figure_html(link, f"background {name}; moving: {moving}; {s['info']['num_frames']} frames averaged"))
    return Section("Local motion blur (LODE LBS, synthetic)", "".join(parts))


SECTIONS: list[SectionBuilder] = [dual_pixel_section, local_blur_section, defocus_deblur_section, local_deblur_section]

_CSS = """body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}"""


def _is_previous_demo(out: Path) -> bool:
    index = out / "index.html"
    try:
        return index.is_file() and MARKER in index.read_text(errors="replace")[:2000]
    except OSError:
        return False


def build_demo(
    out: str | os.PathLike = "demo-output",
    *,
    seed: int = 0,
    sections: list[SectionBuilder] | None = None,
    overwrite: bool = False,
) -> Path:
    """Build the demo page ``OUT/index.html`` with its figures under ``OUT/figures/``.

    Args:
        out: output folder; an empty one, a previous demo, or anything with ``overwrite``.
        seed: base seed (same seed -> same figures).
        sections: section builders (default :data:`SECTIONS`).
        overwrite: replace a non-empty folder that is not a previous demo.
    Returns:
        Path of ``index.html``.
    """
    from blurmap import __version__

    out = Path(out)
    builders = list(SECTIONS if sections is None else sections)
    if out.is_dir() and any(out.iterdir()) and not overwrite and not _is_previous_demo(out):
        raise BlurmapError(f"{out}: folder exists, is not empty and holds no previous demo (pass --overwrite)")
    with staged_output(out, overwrite=True) as tmp:
        ctx = DemoContext(tmp, seed)
        body = []
        for b in builders:
            sec = b(ctx)
            body.append(f"<section><h2>{html.escape(sec.title)}</h2>\n{sec.html}</section>\n")
        page = (
            f"<!DOCTYPE html>\n{MARKER}\n<html><head><meta charset='utf-8'><title>blurmap demo</title>"
            f"<style>{_CSS}</style></head><body>\n<h1>blurmap demo</h1>\n"
            f"<p>blurmap {html.escape(__version__)}, seed {seed}. All inputs are synthesized from "
            "scikit-image's bundled photos.</p>\n" + "".join(body) + "</body></html>\n"
        )
        (tmp / "index.html").write_text(page)
    return out / "index.html"

