"""The 8-bit protocol reads 16-bit PNGs exactly as OpenCV's default imread (the peers' scripts)."""

import json

import numpy as np
import pytest

from blurmap.cli import main
from blurmap.io import write_image
from blurmap.metrics import to_8bit_like_opencv

pytestmark = pytest.mark.usefixtures("one_thread")


def _cv2():
    return pytest.importorskip("cv2")


def _cv2_rgb8(path):
    cv2 = _cv2()
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # the peers' load_img


def test_every_16bit_value_maps_like_cv2_imread(tmp_path):
    v = np.arange(65536, dtype=np.float64).reshape(256, 256) / 65535.0
    img = np.stack([v, v[::-1], v.T], axis=-1)
    path = tmp_path / "all16.png"
    write_image(path, img, bits=16)
    ours = np.round(to_8bit_like_opencv(img, 16) * 255).astype(np.uint8)
    np.testing.assert_array_equal(ours, _cv2_rgb8(path))
    # the high byte, not the rounded value/257: they differ for a quarter of the values
    k = np.arange(65536)
    assert np.mean((k >> 8) != np.round(k / 257)) > 0.2
    np.testing.assert_array_equal(to_8bit_like_opencv(img[..., :1], 8), img[..., :1])
    with pytest.raises(ValueError):
        to_8bit_like_opencv(img, 12)


@pytest.fixture(scope="module")
def dpdd16(tmp_path_factory):
    """One 16-bit pair whose samples hit many values where >>8 and round(/257) disagree."""
    root = tmp_path_factory.mktemp("dpdd16")
    for d in ("test_c/source", "test_c/target"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(7)
    sharp = rng.random((32, 48, 3))
    write_image(root / "test_c/source/1P0A4000.png", 0.6 * sharp + 0.2, bits=16)
    write_image(root / "test_c/target/1P0A4001.png", sharp, bits=16)
    return root


def test_eval_bits8_feeds_and_scores_the_cv2_8bit_images(dpdd16, tmp_path, capsys):
    from blurmap.models import build_model
    from blurmap.weights import save_weights

    config = {"dgb_widths": [[4, 4, 8, 8], [4, 8, 8], [4, 8]]}
    model = build_model("defocusgan", **config)  # untrained: its zero last conv returns the input
    weights = tmp_path / "identity.safetensors"
    save_weights(weights, model, "defocusgan", config)
    out = tmp_path / "o"
    assert main(["eval", "--task", "defocus", "--data", str(dpdd16), "--weights", str(weights), "--bits", "8",
                 "--lpips", "none", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Protocol: 8-bit" in printed and "DRBNet" in printed  # says which peers it compares with
    src8 = _cv2_rgb8(dpdd16 / "test_c/source/1P0A4000.png")
    gt8 = _cv2_rgb8(dpdd16 / "test_c/target/1P0A4001.png")
    # the network saw the 8-bit input: the identity writes it back level for level
    np.testing.assert_array_equal(_cv2_rgb8(out / "restored/1P0A4001.png"), src8)
    report = json.loads((out / "eval_defocus.json").read_text())
    mse = np.mean((src8 / 255.0 - gt8 / 255.0) ** 2)
    assert report["images"][0]["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)
    assert report["images"][0]["input"]["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-9)


def test_metrics_bits8_uses_the_same_reading(dpdd16, tmp_path):
    import shutil

    pred = tmp_path / "pred"
    pred.mkdir()
    shutil.copy(dpdd16 / "test_c/source/1P0A4000.png", pred / "1P0A4001.png")
    out = tmp_path / "m.json"
    assert main(["metrics", "--pred", str(pred), "--gt", str(dpdd16 / "test_c/target"), "--bits", "8",
                 "--lpips", "none", "--json", str(out)]) == 0
    src8 = _cv2_rgb8(pred / "1P0A4001.png") / 255.0
    gt8 = _cv2_rgb8(dpdd16 / "test_c/target/1P0A4001.png") / 255.0
    report = json.loads(out.read_text())
    assert report["images"][0]["psnr"] == pytest.approx(10 * np.log10(1 / np.mean((src8 - gt8) ** 2)), abs=1e-9)
