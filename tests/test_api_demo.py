"""Deblurring sections of the demo page (blurmap.demo.deblur)."""

from __future__ import annotations

import torch

from blurmap.demo import DemoContext
from blurmap.models import build_model
from blurmap.weights import save_weights


def test_sections_skip_clearly_without_weights(tmp_path, monkeypatch):
    import blurmap.weights_data as wd
    from blurmap.demo.deblur import defocus_deblur_section, local_deblur_section

    monkeypatch.setattr(wd, "WEIGHTS_DIR", tmp_path / "none")
    for builder in (defocus_deblur_section, local_deblur_section):
        sec = builder(DemoContext(tmp_path))
        assert "Skipped" in sec.html and "no starter weights" in sec.html


def test_local_section_with_weights(tmp_path, monkeypatch):
    import blurmap.weights_data as wd
    from blurmap.demo.deblur import local_deblur_section

    folder = tmp_path / "w"
    cfg = {"width": 4, "bottleneck_mult": 2}
    torch.manual_seed(0)
    save_weights(folder / "bladenet_starter.safetensors", build_model("bladenet", **cfg), "bladenet", cfg)
    monkeypatch.setattr(wd, "WEIGHTS_DIR", folder)
    (tmp_path / "page").mkdir()
    sec = local_deblur_section(DemoContext(tmp_path / "page"), count=1, size=(64, 96))
    figs = list((tmp_path / "page" / "figures").glob("deblur_local_*.png"))
    assert len(figs) == 1 and f"figures/{figs[0].name}" in sec.html
    assert "masked PSNR" in sec.html and "<table" in sec.html and "mean" in sec.html


def test_defocus_section_scores_the_fit_and_the_shipped_map_net(tmp_path, monkeypatch):
    import numpy as np

    import blurmap.weights_data as wd
    from blurmap.demo.deblur import defocus_deblur_section

    folder = tmp_path / "w"
    cfg = {"dgb_widths": [[4, 4, 8, 8], [4, 8, 8], [4, 8]]}
    torch.manual_seed(0)
    save_weights(folder / "defocusgan_starter.safetensors", build_model("defocusgan", **cfg), "defocusgan", cfg)
    net = build_model("defocus_map_net", channels=4, levels=1, blocks=1)  # zero head: predicts CoC 0
    save_weights(folder / "defocus_map_starter.safetensors", net, "defocus_map_net", net.init_kwargs)
    monkeypatch.setattr(wd, "WEIGHTS_DIR", folder)
    (tmp_path / "page").mkdir()
    sec = defocus_deblur_section(DemoContext(tmp_path / "page"), photos=("coffee",), size=(48, 64), max_coc=3.0)
    assert "map MAE, per-pair fit (px)" in sec.html and "map MAE, DefocusMapNet (px)" in sec.html
    row = sec.html[sec.html.index("<td>coffee</td>"):]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:9]]
    # the all-zero map's error is the mean |true CoC|: the scene's own defocus, > 0
    assert float(cells[7]) > 0.3 and np.isfinite(float(cells[6]))
