"""Local-deblurring evaluation: region metrics, DeepFlow, evaluate_local, Figure 3, CLIs."""

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from blurmap.errors import BlurmapError
from blurmap.eval.blur_area import blur_area_ratio
from blurmap.eval.local import evaluate_local, format_local_report, open_local_dataset
from blurmap.eval.regions import deepflow, flow_norm, motion_regions, region_metrics


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _texture(h, w, seed=0, sigma=2.0):
    rng = np.random.default_rng(seed)
    t = gaussian_filter(rng.random((h, w, 3)), (sigma, sigma, 0))
    return (t - t.min()) / (t.max() - t.min())


def test_region_metrics_equal_direct_numpy():
    h, w = 24, 30
    rng = np.random.default_rng(0)
    gt = rng.random((h, w, 3))
    pred = np.clip(gt + rng.normal(0, 0.05, gt.shape), 0, 1)
    pred[5:15, 8:20] = np.clip(gt[5:15, 8:20] + 0.2, 0, 1)  # the moving object is worse
    flow = np.zeros((h, w, 2))
    flow[5:15, 8:20] = (3.0, 4.0)  # norm 5 px on the object
    flow[0, 0] = (0.6, 0.8)  # norm exactly 1.0: large (>= threshold)
    small, large = motion_regions(flow_norm(flow), threshold=1.0)
    out = region_metrics(pred, gt, {"small": small, "large": large})

    obj = np.zeros((h, w), bool)
    obj[5:15, 8:20] = True
    obj[0, 0] = True
    np.testing.assert_array_equal(large, obj)
    for name, region in (("small", ~obj), ("large", obj)):
        mse = np.mean((pred[region] - gt[region]) ** 2)
        assert out[f"{name}_psnr"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-9)
        assert out[f"{name}_fraction"] == pytest.approx(region.mean())
        _, full = structural_similarity(pred, gt, data_range=1.0, channel_axis=-1, full=True)
        smap = full.mean(2)[3:-3, 3:-3]  # skimage leaves a 3-px border out of its mean
        expected = smap[region[3:-3, 3:-3]].mean()
        assert out[f"{name}_ssim"] == pytest.approx(expected, rel=1e-9)
    assert out["large_psnr"] < out["small_psnr"]


def test_motion_regions_with_gap_and_empty_region():
    norm = np.array([[0.0, 0.5], [2.0, 6.0]])
    small, large = motion_regions(norm, small_max=1.0, large_min=5.0)
    np.testing.assert_array_equal(small, [[True, True], [False, False]])
    np.testing.assert_array_equal(large, [[False, False], [False, True]])
    gt = np.zeros((2, 2, 3))
    out = region_metrics(gt, gt, {"none": np.zeros((2, 2), bool)})
    assert out["none_fraction"] == 0 and math.isnan(out["none_psnr"])


def test_deepflow_recovers_a_known_translation():
    a = _texture(64, 80)
    b = np.roll(a, 3, axis=1)  # content moves +3 px in x
    flow = deepflow(a, b)
    assert flow.shape == (64, 80, 2)
    inner = flow[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.25)
    assert np.median(np.abs(inner[..., 1])) < 0.25


def test_blur_area_ratio_equals_numpy():
    norm = np.random.default_rng(1).random((13, 17)) * 10
    t = np.array([0.0, 1.0, 2.5, 5.0, 9.99, 10.0])
    expected = [(norm > x).mean() for x in t]
    np.testing.assert_allclose(blur_area_ratio(norm, t), expected)


@pytest.fixture
def paired_root(tmp_path):
    for k in range(2):
        sharp = _texture(40, 48, seed=k)
        blur = sharp.copy()
        mask = np.zeros((40, 48), np.uint8)
        mask[10:30, 12:36] = 255
        blur[10:30, 12:36] = gaussian_filter(sharp, (0, 3, 0))[10:30, 12:36]
        _png(tmp_path / "test" / "sharp" / f"{k}.png", (sharp * 255).round().astype(np.uint8))
        _png(tmp_path / "test" / "blur" / f"{k}.png", (blur * 255).round().astype(np.uint8))
        _png(tmp_path / "test" / "mask" / f"{k}.png", mask)
    return tmp_path


class _Oracle(torch.nn.Module):
    """Returns a fixed image (the ground truth of the only test item)."""

    def __init__(self, image):
        super().__init__()
        self.image = image

    def forward(self, x):
        return self.image.to(x)


def test_evaluate_local_identity_and_mask_regions(paired_root):
    from blurmap.metrics import masked_psnr, psnr

    ds = open_local_dataset(paired_root, "test")
    res = evaluate_local(torch.nn.Identity(), ds, regions="mask")
    assert res["count"] == 2 and res["has_mask"]
    row = res["rows"][0]
    assert row["psnr"] == pytest.approx(row["input_psnr"])
    item = ds[0]
    b = item["blur"].numpy().transpose(1, 2, 0).astype(np.float64)
    s = item["sharp"].numpy().transpose(1, 2, 0).astype(np.float64)
    assert row["psnr"] == pytest.approx(psnr(b, s))
    assert row["masked_psnr"] == pytest.approx(masked_psnr(b, s, item["mask"][0].numpy()))
    assert row["blurred_fraction"] == pytest.approx(20 * 24 / (40 * 48))
    assert row["static_psnr"] == math.inf or row["static_psnr"] > 45  # untouched background
    text = format_local_report(res)
    assert "masked_psnr" in text and "gain" in text


def test_evaluate_local_oracle_improves_and_flow_regions(paired_root):
    ds = open_local_dataset(paired_root, "test")
    oracle = _Oracle(ds[0]["sharp"].unsqueeze(0))
    res = evaluate_local(oracle, ds, regions="flow", limit=1)
    row = res["rows"][0]
    assert res["flow_source"] == "blur-sharp"
    assert row["masked_psnr"] > row["input_masked_psnr"] or math.isinf(row["masked_psnr"])
    assert row["small_fraction"] + row["large_fraction"] == pytest.approx(1.0)


def test_evaluate_local_errors(tmp_path, paired_root):
    with pytest.raises(BlurmapError, match="not a recognised"):
        open_local_dataset(tmp_path / "test" / "blur", "test")
    for m in (paired_root / "test" / "mask").iterdir():
        m.unlink()
    (paired_root / "test" / "mask").rmdir()
    with pytest.raises(BlurmapError, match="needs blur masks"):
        evaluate_local(None, open_local_dataset(paired_root, "test"), regions="mask")


def test_analyze_blur_area_cli_global_vs_local(tmp_path):
    from blurmap.cli import main

    base = _texture(48, 64, seed=3)
    for j in range(3):
        glob_frame = np.roll(base, 4 * j, axis=1)  # whole frame moves 4 px per frame
        local_frame = base.copy()
        local_frame[16:32, 10 + 4 * j : 26 + 4 * j] = 1.0 - base[16:32, 10:26]  # a moving patch
        _png(tmp_path / "global" / "clip0" / f"{j:08d}.png", (glob_frame * 255).astype(np.uint8))
        _png(tmp_path / "local" / "clip0" / f"{j:08d}.png", (local_frame * 255).astype(np.uint8))
    out = tmp_path / "fig"
    argv = ["analyze", "blur-area", "--data", str(tmp_path / "global"), "--data", str(tmp_path / "local"),
            "-o", str(out), "--max-threshold", "3", "--num-thresholds", "4"]
    assert main(argv) == 0
    rows = list(csv.reader(open(out / "blur_area.csv")))
    assert rows[0][0] == "threshold_px" and rows[0][1].startswith("global")
    at2 = rows[3]  # threshold 2 px
    assert float(at2[0]) == 2.0
    assert float(at2[1]) > 0.8 and float(at2[2]) < 0.4
    assert (out / "blur_area.png").stat().st_size > 1000
    assert main(argv) == 1  # refuses to overwrite


def test_blur_mask_cli(tmp_path, capsys):
    from blurmap.cli import main
    from blurmap.models import build_model
    from blurmap.weights import save_weights

    cfg = {"width": 4, "bottleneck_mult": 2}
    w = tmp_path / "lbp.safetensors"
    save_weights(w, build_model("lbp", **cfg), "lbp", cfg)
    _png(tmp_path / "in" / "a.png", (_texture(40, 52) * 255).astype(np.uint8))
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    code = main(["blur-mask", str(tmp_path / "in" / "a.png"), str(tmp_path / "in" / "broken.png"),
                 "-o", str(tmp_path / "out"), "--weights", str(w)])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 2 images failed" in err
    mask = np.asarray(Image.open(tmp_path / "out" / "a_mask.png"))
    assert mask.shape == (40, 52)
    assert not (tmp_path / "out" / "broken_mask.png").exists()


def test_eval_cli_task_local(paired_root, tmp_path, capsys):
    from blurmap.cli import main
    from blurmap.models import build_model
    from blurmap.weights import save_weights

    cfg = {"width": 4, "bottleneck_mult": 2}
    w = tmp_path / "bladenet.safetensors"
    save_weights(w, build_model("bladenet", **cfg), "bladenet", cfg)  # untrained = identity
    out = tmp_path / "report"
    code = main(["eval", "--task", "local", "--data", str(paired_root), "--weights", str(w),
                 "--lpips", "none", "--bits", "8", "--regions", "mask", "-o", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "| masked_psnr |" in text and "| blurred_psnr |" in text
    assert "+0.00 |" in text  # identity network: no gain
    assert (out / "local_eval.json").is_file() and (out / "local_eval.md").is_file()
    assert main(["eval", "--task", "defocus", "--data", str(paired_root), "--weights", str(w),
                 "--regions", "mask"]) == 1
