"""blurmap bench quality: the scores against hand-made cases, and the command end to end (quick mode)."""

import json
import math

import numpy as np
import pytest

from blurmap.bench.quality import score_defocus, score_local, score_maps
from blurmap.cli import main


def _dp_scene(rng, coc):
    h, w = coc.shape
    aif = rng.random((h, w, 3)).astype(np.float32)
    return {"aif": aif, "combined": np.clip(aif + 0.05, 0, 1), "left": aif, "right": aif, "coc": coc}


def test_map_scores_of_an_oracle_and_of_a_halved_map():
    rng = np.random.default_rng(0)
    coc = np.tile(np.linspace(-18, 18, 64, dtype=np.float32), (48, 1))
    scenes = [_dp_scene(rng, coc)]
    oracle = score_maps(lambda left, right: coc, scenes)
    assert oracle["mae_textured"] == 0 and oracle["sign_accuracy"] == 1.0
    assert all(v == 0 for v in oracle["bias"].values() if not math.isnan(v))
    half = score_maps(lambda left, right: coc / 2, scenes)
    from blurmap.eval.defocus_map import texture_mask

    a = np.abs(coc)
    sel = (a >= 5) & (a < 10) & texture_mask(scenes[0]["aif"], 0.02)
    assert half["bias"]["5-10"] == pytest.approx(-0.5 * a[sel].mean(), rel=1e-6)
    flipped = score_maps(lambda left, right: -coc, scenes)
    assert flipped["sign_accuracy"] == 0.0 and flipped["mae_textured"] == 0


class _Identity:
    """A 'model' that returns its input, with the true mask as its map."""

    def __init__(self, mask=None):
        self.mask = mask

    def deblur(self, image):
        return image

    def predict(self, image):
        out = {"image": image}
        if self.mask is not None:
            out["map"] = self.mask
        return out


def test_local_scores_of_the_identity():
    rng = np.random.default_rng(1)
    sharp = rng.random((40, 50, 3)).astype(np.float32)
    mask = np.zeros((40, 50), np.float32)
    mask[10:20, 10:30] = 1
    blur = sharp.copy()
    blur[10:20, 10:30] = 0.5
    r = score_local(_Identity(mask), [{"blur": blur, "sharp": sharp, "mask": mask}])
    assert r["iou"] == 1.0 and r["static_marked"] == 0.0
    assert r["masked_psnr_gain"] == 0 and r["full_psnr_gain"] == 0 and math.isinf(r["static_psnr"])


def test_defocus_scores_pool_pixels_per_bin():
    rng = np.random.default_rng(2)
    coc = np.zeros((32, 32), np.float32)
    coc[:, 16:] = 8.0
    s = _dp_scene(rng, coc)
    rows = {r["bin"]: r for r in score_defocus(_Identity(), [s])}
    assert rows["all"]["psnr_gain"] == 0 and rows["all"]["pixels"] == 32 * 32
    assert rows["in focus (< 1 px)"]["pixels"] == 32 * 16 == rows[">= 6 px"]["pixels"]
    mse = np.mean((s["combined"].astype(np.float64) - s["aif"]) ** 2)
    assert rows["all"]["psnr_in"] == pytest.approx(10 * math.log10(1 / mse))
    assert rows["10-15 px"]["pixels"] == 0


def test_bench_quality_quick_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "q.json"
    assert main(["bench", "quality", "--quick", "--weights", "local", "--no-optimize", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "LBP IoU" in text and "local-shifted" in text
    rows = json.loads(out.read_text())["rows"]
    assert {r["split"] for r in rows} == {"in", "shifted"} and all(r["model"] == "local" for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--split", "sideways"], "--split must be"),
    (["--weights", "no_such_weights.safetensors"], "no such weights file"),
    (["--count", "0"], "--count must be >= 1"),
    (["--in-split", "dp-nowhere"], "--in-split: unknown split 'dp-nowhere'"),
    (["--weights", "local", "--no-optimize", "--in-split", "dp-bundled-20px"], "holds dp scenes"),
])
def test_bench_quality_bad_input(capsys, args, message):
    assert main(["bench", "quality", "--quick", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("blurmap: error: ") and message in err and "\n" not in err


def test_in_split_replaces_the_split_of_its_task_family_only():
    from blurmap.bench.quality import plan_models, with_in_split

    plan = with_in_split(plan_models(["defocus-map", "local"], optimize=True), "dp-bundled-6px")
    splits = {label: split for label, _, _, split in plan.entries}
    assert splits == {"defocus-map": "dp-bundled-6px", "optimize": "dp-bundled-6px", "local": "local-bundled"}
