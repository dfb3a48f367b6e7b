"""The shipped DefocusMapNet starter (alias ``defocus-map``): it is the starter recipe's network
and meets the acceptance bar (textured MAE <= 1.5 px, AiF better than the input) on the
held-out synthetic scenes of ``benchmarks/defocus_map_eval.py``."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import blurmap
from blurmap import weights_data
from blurmap.cli import main
from blurmap.eval.defocus_map import heldout_dp_scenes, map_errors, texture_mask
from blurmap.io import write_image
from blurmap.weights import read_metadata

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "defocus_map_starter.yaml"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes():
    # the benchmark's default scenes: 2 chelsea + 2 camera, 192x256, |CoC| <= 20 px
    return heldout_dp_scenes(4)


@pytest.fixture(scope="module")
def maps(scenes):
    return [blurmap.estimate_defocus_map(s["left"], s["right"], weights="defocus-map") for s in scenes]


def test_shipped_file_is_the_starter_recipes_network():
    path = weights_data.resolve("defocus-map")
    assert path is not None and path.name == "defocus_map_starter.safetensors"
    meta = read_metadata(path)
    cfg = yaml.safe_load(CONFIG.read_text())
    assert meta["name"] == "defocus_map_net"
    assert {k: meta["config"][k] for k in ("channels", "levels", "blocks", "max_coc")} == \
        {k: cfg[k] for k in ("channels", "levels", "blocks", "max_coc")}


def test_map_error_on_held_out_scenes_is_at_most_1_5_px(scenes, maps):
    errs = [map_errors(m, s["coc"], s["aif"], threshold=0.02) for m, s in zip(maps, scenes)]
    assert all(m.shape == s["coc"].shape and m.dtype == np.float32 for m, s in zip(maps, scenes))
    assert np.mean([e["mae_textured"] for e in errs]) <= 1.5
    # the map is signed: front and back are told apart on textured pixels that are clearly
    # out of focus (measured: 93 % of them on these scenes)
    agree = [np.mean(np.sign(m[sel]) == np.sign(s["coc"][sel]))
             for m, s in zip(maps, scenes) for sel in [texture_mask(s["aif"]) & (np.abs(s["coc"]) > 3)]]
    assert np.mean(agree) >= 0.85


def test_deconvolution_with_its_map_beats_the_blurred_input(scenes, maps):
    from blurmap.deconv import deconvolve
    from blurmap.metrics import psnr

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]

    gains = []
    for m, s in zip(maps, scenes):
        rec = deconvolve(t(s["combined"]), torch.from_numpy(m)[None, None], "rl")[0].permute(1, 2, 0).numpy()
        gains.append(psnr(rec, s["aif"]) - psnr(s["combined"], s["aif"]))
    assert np.mean(gains) > 0


def test_cli_takes_the_shipped_name(scenes, maps, tmp_path):
    s = scenes[0]
    write_image(tmp_path / "L.png", s["left"], bits=16)
    write_image(tmp_path / "R.png", s["right"], bits=16)
    out = tmp_path / "map.npy"
    assert main(["defocus-map", "--left", str(tmp_path / "L.png"), "--right", str(tmp_path / "R.png"),
                 "-o", str(out), "--weights", "defocus-map"]) == 0
    # 16-bit PNG quantisation is the only difference from the in-memory views
    assert np.abs(np.load(out) - maps[0]).mean() < 0.05
