"""``blurmap metrics``: pairing, table, JSON equal to the library, and failure behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from blurmap.cli import main
from blurmap.io import read_image, write_image
from blurmap.metrics import LPIPS, evaluate_pair, to_8bit_like_opencv


def _scene(seed, size=48):
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.random((size, size, 3)), (2, 2, 0))
    return (base - base.min()) / (base.max() - base.min())


@pytest.fixture
def folders(tmp_path):
    pred, gt, mask = tmp_path / "pred", tmp_path / "gt", tmp_path / "mask"
    for d in (pred, gt, mask):
        d.mkdir()
    for i in range(2):
        sharp = _scene(i)
        write_image(gt / f"img{i}.png", sharp, bits=16)
        # predictions stored with another extension and depth: pairing is by name only
        write_image(pred / f"img{i}.tif", gaussian_filter(sharp, (1 + i, 1 + i, 0)), bits=16)
        m = np.zeros(sharp.shape[:2])
        m[8:40, 10:30] = 1
        write_image(mask / f"img{i}.png", m, bits=8)
    return pred, gt, mask


def test_json_equals_library_numbers(folders, tmp_path, capsys):
    pred, gt, mask = folders
    out = tmp_path / "res.json"
    code = main(["metrics", "--pred", str(pred), "--gt", str(gt), "--mask", str(mask), "--bits", "8",
                 "--lpips", "alex", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "LPIPS alex" in captured.out and "img1" in captured.out and "mean" in captured.out
    res = json.loads(out.read_text())
    assert res["lpips_net"] == "alex" and res["bits"] == 8 and res["count"] == 2
    lp = LPIPS("alex")
    rows = []
    for i in range(2):
        # both files are 16-bit: the 8-bit protocol keeps their high byte (OpenCV's imread)
        p = to_8bit_like_opencv(read_image(pred / f"img{i}.tif").array, 16)
        g = to_8bit_like_opencv(read_image(gt / f"img{i}.png").array, 16)
        m = read_image(mask / f"img{i}.png").array[..., 0]
        ref = evaluate_pair(p, g, mask=m, lpips=lp)
        row = res["images"][i]
        assert row["name"] == f"img{i}"
        for key in ("psnr", "ssim", "mae", "masked_psnr", "masked_ssim", "lpips"):
            assert row[key] == pytest.approx(ref[key], abs=1e-9), key
        rows.append(ref)
    assert res["mean"]["psnr"] == pytest.approx((rows[0]["psnr"] + rows[1]["psnr"]) / 2, abs=1e-9)
    # 8-bit and 16-bit protocols give (slightly) different numbers
    out16 = tmp_path / "res16.json"
    assert main(["metrics", "--pred", str(pred), "--gt", str(gt), "--bits", "16", "--lpips", "none",
                 "--json", str(out16)]) == 0
    res16 = json.loads(out16.read_text())
    assert res16["lpips_net"] is None and "lpips" not in res16["mean"]
    assert res16["mean"]["psnr"] != res["mean"]["psnr"]


def test_identical_images_give_inf_psnr_in_json(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_image(tmp_path / "a" / "x.png", _scene(5), bits=8)
    write_image(tmp_path / "b" / "x.png", _scene(5), bits=8)
    out = tmp_path / "r.json"
    assert main(["metrics", "--pred", str(tmp_path / "a"), "--gt", str(tmp_path / "b"), "--lpips", "none",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["images"][0]["psnr"] == "inf" and res["images"][0]["mae"] == 0.0


def _run_failing(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def test_missing_pair_and_bad_files_fail_without_json(folders, tmp_path, capsys):
    pred, gt, _ = folders
    out = tmp_path / "res.json"
    (pred / "extra.png").write_bytes(b"")  # empty, and without a ground truth
    (gt / "lonely.png").write_text("not an image")  # ground truth without a prediction
    code, lines = _run_failing(
        ["metrics", "--pred", str(pred), "--gt", str(gt), "--lpips", "none", "--json", str(out)], capsys
    )
    assert code != 0 and not out.exists()
    assert any("extra.png" in line and "no ground truth" in line for line in lines)
    assert any("lonely.png" in line and "no prediction" in line for line in lines)
    assert all(line.startswith("blurmap: error: ") for line in lines)
    assert len(lines) == 3  # one line per problem + a summary


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "empty"), (b"hello", "not an image"), (None, "truncated"), (None, "refusing")],
)
def test_each_unreadable_file_gives_one_line(folders, tmp_path, capsys, monkeypatch, content, reason):
    pred, gt, _ = folders
    bad = pred / "img0.tif"
    if reason == "truncated":
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif reason == "refusing":
        monkeypatch.setenv("BLURMAP_MAX_PIXELS", "1000")  # 48x48 = 2304 px
    else:
        bad.unlink()
        bad = pred / "img0.png"
        bad.write_bytes(content)
    out = tmp_path / "res.json"
    code, lines = _run_failing(
        ["metrics", "--pred", str(pred), "--gt", str(gt), "--lpips", "none", "--json", str(out)], capsys
    )
    assert code == 1 and not out.exists()
    hits = [line for line in lines if str(bad) in line]
    assert hits and reason in hits[0]


def test_size_mismatch_and_bad_options(folders, tmp_path, capsys):
    pred, gt, _ = folders
    write_image(pred / "img1.tif", _scene(1, size=40), bits=16)
    code, lines = _run_failing(["metrics", "--pred", str(pred), "--gt", str(gt), "--lpips", "none"], capsys)
    assert code == 1 and any("img1.tif" in line and "differs" in line for line in lines)
    for d in (pred, gt):
        write_image(d / "tiny.png", _scene(3, size=20))
    code, lines = _run_failing(["metrics", "--pred", str(pred), "--gt", str(gt)], capsys)  # alex: 31 px
    assert code == 1 and any("tiny.png" in line and "too small" in line for line in lines)
    code, lines = _run_failing(["metrics", "--pred", str(pred), "--gt", str(gt), "--bits", "12"], capsys)
    assert code == 1 and lines == ["blurmap: error: --bits must be 8 or 16, got 12"]
    code, lines = _run_failing(["metrics", "--pred", str(tmp_path / "nope"), "--gt", str(gt), "--lpips", "none"],
                               capsys)
    assert code == 1 and any("nope" in line and "does not exist" in line for line in lines)
    code, lines = _run_failing(["metrics", "--pred", str(pred), "--gt", str(gt), "--lpips", "none",
                                "--json", str(tmp_path / "missing_dir" / "r.json")], capsys)
    assert code == 1 and len(lines) == 1 and "does not exist" in lines[0]
