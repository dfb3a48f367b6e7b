"""Deblurring sections of ``blurmap demo``: the starter weights on fresh synthetic examples.

Each section synthesizes examples from the bundled photos (new random draws, not the ones in
the synthesis sections), restores them with the shipped starter weights through the public
API, and shows ``input | output | ground truth | map`` per example plus a metrics table
(PSNR / SSIM from :mod:`blurmap.metrics`, DPDD protocol; mask-weighted PSNR for local blur).
When the starter weights are not installed, the section says so instead of failing the page.
"""

from __future__ import annotations

import html

import numpy as np

from blurmap.demo.page import DemoContext, Section, figure_html, panel_figure
from blurmap.errors import BlurmapError


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    return (
        "<table style='border-collapse:collapse;margin:1em 0' border='1' cellpadding='4'>"
        f"<tr>{head}</tr>\n{body}</table>\n"
    )


def _load(name: str):
    """The shipped starter model ``name`` or None (with the reason) when it is not installed."""
    from blurmap.api import load_model

    try:
        return load_model(name), ""
    except BlurmapError as err:
        return None, str(err)


def _weights_name(model) -> str:
    from pathlib import Path

    return Path(model.metadata.get("path", model.name)).name


def _missing(title: str, reason: str) -> Section:
    return Section(title, f"<p><b>Skipped:</b> {html.escape(reason)}</p>\n")


def defocus_deblur_section(
    ctx: DemoContext, photos=("chelsea", "coffee", "motorcycle_left"), size=(240, 360), max_coc=6.0
) -> Section:
    """DefocusGAN starter weights on synthetic dual-pixel scenes.

    Per example: blurred (combined DP view) | DefocusGAN output | all-in-focus ground truth |
    defocus map estimated from the two DP views (:func:`blurmap.estimate_defocus_map`, per-pair
    fit) | true map. The table gives the map error of the fit and, when it is installed, of the
    shipped DefocusMapNet starter.
    ``max_coc`` defaults to the starter's training range (|CoC| <= 6 px, configs/defocusgan_starter.yaml).
    """
    from blurmap.metrics import psnr, ssim
    from blurmap.synth.bundled import bundled_disparity, bundled_image
    from blurmap.synth.dp import DPConfig, make_dp_sample

    title = "Defocus deblurring (DefocusGAN starter weights, synthetic dual-pixel scenes)"
    model, reason = _load("defocus")
    if model is None:
        return _missing(title, reason)
    estimators = _defocus_map_estimators()
    parts, rows, gains = [], [], []
    for k, name in enumerate(photos):
        disp = bundled_disparity()[1] if name == "motorcycle_left" else None
        s = make_dp_sample(bundled_image(name), ctx.rng(11, k), size, DPConfig(max_coc=max_coc), disp)
        blurred, gt = s["combined"], s["aif"]
        out = model.deblur(blurred)
        maps = [fn(s["left"], s["right"]) for _, fn in estimators]
        coc = maps[0]
        m = max(float(np.abs(s["coc"]).max()), 1.0)
        path, link = ctx.figure(f"deblur_defocus_{k}_{name}.png")
        panel_figure(
            path,
            [
                ("blurred input", blurred, {}),
                ("DefocusGAN output", out, {}),
                ("ground truth (all-in-focus)", gt, {}),
                (f"CoC, {estimators[0][0]}", coc, {"cmap": "coolwarm", "vmin": -m, "vmax": m}),
                ("true CoC", s["coc"], {"cmap": "coolwarm", "vmin": -m, "vmax": m}),
            ],
            colorbar="signed CoC, px",
        )
        p_in, p_out = psnr(blurred, gt), psnr(out, gt)
        gains.append(p_out - p_in)
        rows.append([name, f"{p_in:.2f}", f"{p_out:.2f}", f"{p_out - p_in:+.2f}", f"{ssim(blurred, gt):.3f}",
                     f"{ssim(out, gt):.3f}"] + [f"{float(np.abs(c - s['coc']).mean()):.2f}" for c in maps])
        parts.append(figure_html(link, f"{name}: peak |CoC| {s['info']['peak_coc']:.1f} px; PSNR {p_in:.2f} -> {p_out:.2f} dB"))
    rows.append(["mean", "", "", f"{np.mean(gains):+.2f}", "", ""] + [""] * len(estimators))
    table = _table(
        ["example", "PSNR input", "PSNR output", "gain (dB)", "SSIM input", "SSIM output"]
        + [f"map MAE, {label} (px)" for label, _ in estimators],
        rows,
    )
    note = (
        f"<p>Weights: <code>{html.escape(_weights_name(model))}</code>. Scenes are "
        "rendered from the bundled photos with new random depths and focus (the starter recipe holds chelsea out "
        "of training; the other photos were seen with other scenes). They show the pipeline, not performance on "
        "real DPDD photos.</p>\n"
    )
    return Section(title, note + table + "".join(parts))


def _defocus_map_estimators():
    """``[(label, f(left, right) -> HxW CoC)]``: the per-pair fit (100 steps on a ~8000-pixel
    coarse grid, a few seconds each), then the shipped DefocusMapNet starter when installed.

    The fit comes first and draws the map panel: on the demo's small blurs (|CoC| <= 6 px) it
    is the more accurate of the two (mean |error| 0.18-0.47 px against the net's 0.52-0.77 px,
    which was trained on |CoC| <= 20 px and reads in-focus regions as slightly blurred;
    docs/model-cards/defocus-map.md). The table reports both."""
    from blurmap.api import estimate_defocus_map, resolve_weights

    out = [("per-pair fit", lambda left, right: estimate_defocus_map(left, right, steps=100, coarse_pixels=8000))]
    try:
        weights = resolve_weights("defocus-map")
    except BlurmapError:
        weights = None
    if weights is not None:
        out.append(("DefocusMapNet", lambda left, right: estimate_defocus_map(left, right, weights=weights)))
    return out


def starter_lbs_config():
    """The LBS settings the BladeNet starter was trained with (configs/bladenet_starter.yaml:
    speed 0.004-0.015 of the canvas side per frame, spin <= 1 deg and zoom <= 1 % per frame)."""
    from dataclasses import replace

    from blurmap.synth.local import LocalBlurConfig

    cfg = LocalBlurConfig()
    motion = replace(cfg.motion, speed=(0.004, 0.015), spin=(-1.0, 1.0), zoom=(-0.01, 0.01))
    return replace(cfg, motion=motion)


def local_deblur_section(ctx: DemoContext, count: int = 3, size=(128, 192)) -> Section:
    """BladeNet starter weights on LBS examples: blurred | output | sharp | predicted mask.

    The examples use the starter's training distribution (:func:`starter_lbs_config`, canvases
    near its 128 px evaluation size) with new random draws."""
    from blurmap.metrics import masked_psnr, psnr
    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.local import make_local_sample
    from blurmap.synth.sources import BundledObjects

    title = "Local motion deblurring (BladeNet starter weights, LBS examples)"
    model, reason = _load("local")
    if model is None:
        return _missing(title, reason)
    bank = BundledObjects()
    backgrounds = ("coffee", "astronaut", "motorcycle_left")
    parts, rows, gains = [], [], []
    for k in range(count):
        name = backgrounds[k % len(backgrounds)]
        s = make_local_sample(bundled_image(name), bank, ctx.rng(12, k), size, starter_lbs_config())
        blurred = s["blur"].permute(1, 2, 0).numpy()
        gt = s["sharp"].permute(1, 2, 0).numpy()
        mask = s["mask"][0].numpy()
        pred = model.predict(blurred)
        out, prob = pred["image"], pred.get("map")
        panels = [("blurred input", blurred, {}), ("BladeNet output", out, {}), ("ground truth (sharp)", gt, {})]
        if prob is not None:
            panels.append(("predicted blur mask", prob, {"cmap": "magma", "vmin": 0, "vmax": 1}))
        panels.append(("true mask", mask, {"cmap": "gray", "vmin": 0, "vmax": 1}))
        path, link = ctx.figure(f"deblur_local_{k}_{name}.png")
        panel_figure(path, panels, colorbar="blur probability")
        mp_in, mp_out = masked_psnr(blurred, gt, mask), masked_psnr(out, gt, mask)
        gains.append(mp_out - mp_in)
        iou = ""
        if prob is not None:
            a, b = prob > 0.5, mask > 0.5
            iou = f"{(a & b).sum() / max((a | b).sum(), 1):.2f}"
        rows.append([name, f"{psnr(blurred, gt):.2f}", f"{psnr(out, gt):.2f}", f"{mp_in:.2f}", f"{mp_out:.2f}",
                     f"{mp_out - mp_in:+.2f}", iou])
        parts.append(figure_html(link, f"background {name}: mask-weighted PSNR {mp_in:.2f} -> {mp_out:.2f} dB"))
    rows.append(["mean", "", "", "", "", f"{np.mean(gains):+.2f}", ""])
    table = _table(
        ["example", "PSNR input", "PSNR output", "masked PSNR input", "masked PSNR output", "masked gain (dB)",
         "mask IoU (p > 0.5)"],
        rows,
    )
    note = (
        f"<p>Weights: <code>{html.escape(_weights_name(model))}</code>. Masked PSNR is over "
        "the locally blurred pixels only (the local-deblurring protocol). LBS examples from the bundled photos and "
        "objects with the starter's training settings (new random draws); not trained on REDS/ReLoBlur.</p>\n"
    )
    return Section(title, note + table + "".join(parts))
