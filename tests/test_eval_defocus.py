"""`blurmap eval --task defocus` on a DPDD-layout fixture == `blurmap metrics` on its outputs."""

import json

import numpy as np
import pytest
import torch

from blurmap.cli import main
from blurmap.io import read_image, write_image
from blurmap.weights import load_network

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dpdd(tmp_path_factory):
    """3 test frames in the real DPDD naming (source 1P0A2000, target 1P0A2001, ...), 16-bit."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("dd_dp_dataset_canon")
    rng = np.random.default_rng(0)
    for d in ("test_c/source", "test_c/target", "test_l/source", "test_r/source"):
        (root / d).mkdir(parents=True)
    for i in range(3):
        sharp = gaussian_filter(rng.random((40, 56, 3)), (1, 1, 0)).astype(np.float32)
        sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
        blur = gaussian_filter(sharp, (1.5 + i, 1.5 + i, 0))
        stem = f"1P0A{2000 + 2 * i}"
        write_image(root / f"test_c/source/{stem}.png", blur, bits=16)
        write_image(root / f"test_c/target/1P0A{2001 + 2 * i}.png", sharp, bits=16)
        write_image(root / f"test_l/source/{stem}_L.png", blur, bits=16)
        write_image(root / f"test_r/source/{stem}_R.png", blur, bits=16)
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from blurmap.models import build_model
    from blurmap.weights import save_weights

    torch.manual_seed(3)
    config = {"dgb_widths": [[4, 4, 8, 8], [4, 8, 8], [4, 8]]}
    model = build_model("defocusgan", **config)
    path = tmp_path_factory.mktemp("w") / "g.safetensors"
    save_weights(path, model, "defocusgan", config)
    return path


@pytest.mark.parametrize("bits", [16, 8])
def test_eval_equals_metrics_on_written_outputs(dpdd, weights, tmp_path, capsys, bits):
    out = tmp_path / "ev"
    code = main(["eval", "--task", "defocus", "--data", str(dpdd), "--split", "test", "--weights", str(weights),
                 "--bits", str(bits), "--lpips", "alex", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "Params (M)" in printed
    report = json.loads((out / "eval_defocus.json").read_text())
    assert report["count"] == 3 and report["bits"] == bits and report["lpips_net"] == "alex"
    assert report["params"] == sum(p.numel() for p in load_network(weights).parameters())
    names = sorted(p.name for p in (out / "restored").iterdir())
    assert names == ["1P0A2001.png", "1P0A2003.png", "1P0A2005.png"]  # named like the ground truth
    assert read_image(out / "restored" / names[0]).bits == bits
    assert (out / "eval_defocus.md").read_text().count("| all |") == 1
    grid = read_image(out / "best_worst.png").array
    assert grid.shape[0] > 40 and grid.shape[1] > 3 * 56

    mjson = tmp_path / "m.json"
    assert main(["metrics", "--pred", str(out / "restored"), "--gt", str(dpdd / "test_c/target"),
                 "--bits", str(bits), "--lpips", "alex", "--json", str(mjson)]) == 0
    metrics = json.loads(mjson.read_text())
    for key in ("psnr", "ssim", "mae", "lpips"):
        assert report["groups"]["all"][key] == metrics["mean"][key]
    by_name = {r["name"]: r for r in metrics["images"]}
    for row in report["images"]:
        assert row["psnr"] == by_name[row["name"]]["psnr"]
    # the blurred-input baseline row, against an independent PSNR of the quantised images
    src = read_image(dpdd / "test_c/source/1P0A2000.png").array.astype(np.float64)
    gt = read_image(dpdd / "test_c/target/1P0A2001.png").array.astype(np.float64)
    # 16-bit: all levels kept; 8-bit: the high byte, as OpenCV's default imread reads 16-bit PNGs
    q = (lambda a: np.round(a * 65535) / 65535) if bits == 16 else (lambda a: (np.round(a * 65535).astype(int) >> 8) / 255)  # noqa: E731
    first = next(r for r in report["images"] if r["name"] == "1P0A2001")
    assert first["input"]["psnr"] == pytest.approx(10 * np.log10(1 / np.mean((q(src) - q(gt)) ** 2)), abs=1e-9)


def test_restored_pixels_are_the_model_output(dpdd, weights, tmp_path):
    out = tmp_path / "ev"
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", str(weights), "--lpips", "none",
                 "-o", str(out)]) == 0
    model = load_network(weights)
    x = torch.from_numpy(read_image(dpdd / "test_c/source/1P0A2002.png").array).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    got = read_image(out / "restored/1P0A2003.png").array
    assert np.abs(got - expected).max() <= 0.5 / 65535 + 1e-6  # 16-bit quantisation only


def test_indoor_outdoor_groups(dpdd, weights, tmp_path):
    lst = tmp_path / "indoor.txt"
    lst.write_text("# indoor scenes\n1P0A2000.png\n1P0A2005\n")  # a source name and a target stem
    out = tmp_path / "ev"
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", str(weights), "--lpips", "none",
                 "--indoor-list", str(lst), "-o", str(out)]) == 0
    groups = json.loads((out / "eval_defocus.json").read_text())["groups"]
    assert [groups[g]["count"] for g in ("indoor", "outdoor", "all", "input (blurred)")] == [2, 1, 3, 3]
    rows = json.loads((out / "eval_defocus.json").read_text())["images"]
    psnr = {r["source"]: r["psnr"] for r in rows}
    assert groups["indoor"]["psnr"] == pytest.approx((psnr["1P0A2000"] + psnr["1P0A2004"]) / 2)


def test_errors_are_one_line_and_leave_no_output(dpdd, weights, tmp_path, capsys):
    out = tmp_path / "ev"
    bad_list = tmp_path / "indoor.txt"
    bad_list.write_text("1P0A9999\n")
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", str(weights),
                 "--indoor-list", str(bad_list), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1P0A9999" in err[0] and not out.exists()
    assert main(["eval", "--task", "defocus", "--data", str(tmp_path / "nope"), "--weights", str(weights), "-o", str(out)]) == 1
    assert "folder not found" in capsys.readouterr().err and not out.exists()
    assert main(["eval", "--task", "bogus", "--data", str(dpdd), "--weights", str(weights)]) == 1
    assert "unknown --task" in capsys.readouterr().err
    (out / "restored").mkdir(parents=True)
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", str(weights), "--lpips", "none", "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert list(out.iterdir()) == [out / "restored"]
