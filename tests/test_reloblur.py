"""ReLoBlur reader on a fixture written in the real layout, masks under masks/."""

import numpy as np
import pytest
from PIL import Image

from blurmap.data.reloblur import ReLoBlurDataset
from blurmap.errors import BlurmapError


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(1)
    for scene in ("s01_01", "s02_03"):
        for nn in ("00", "01"):
            d = tmp_path / "test" / scene / nn
            _png(d / f"{nn}_sharp.png", rng.integers(0, 256, (10, 14, 3), dtype=np.uint8))
            _png(d / f"{nn}_blur.png", rng.integers(0, 256, (10, 14, 3), dtype=np.uint8))
            mask = np.zeros((10, 14), np.uint8)
            mask[2:5, 3:9] = 255
            mask[0, 0] = 100  # below 0.5: background
            _png(tmp_path / "masks" / "test" / scene / nn / f"{nn}_mask.png", mask)
    return tmp_path


def test_reloblur_items_and_masks(root):
    ds = ReLoBlurDataset(root, "test", require_masks=True)
    assert len(ds) == 4 and ds.has_mask
    item = ds[1]
    assert item["name"] == "s01_01/01"
    assert item["blur"].shape == (3, 10, 14) and item["mask"].shape == (1, 10, 14)
    expected = np.zeros((10, 14), np.float32)
    expected[2:5, 3:9] = 1
    np.testing.assert_array_equal(item["mask"][0].numpy(), expected)
    sharp = np.asarray(Image.open(root / "test/s01_01/01/01_sharp.png"), np.float32) / 255
    np.testing.assert_allclose(item["sharp"].numpy().transpose(1, 2, 0), sharp, atol=1e-6)


def test_reloblur_alternative_mask_name_and_missing(root):
    m = root / "masks/test/s02_03/01/01_mask.png"
    m.rename(m.with_name("01.png"))
    assert "mask" in ReLoBlurDataset(root, "test")[3]
    m.with_name("01.png").unlink()
    ds = ReLoBlurDataset(root, "test")
    assert "mask" not in ds[3] and not ds.has_mask
    with pytest.raises(BlurmapError, match="missing mask"):
        ReLoBlurDataset(root, "test", require_masks=True)


def test_reloblur_errors(root):
    with pytest.raises(BlurmapError, match="no such split"):
        ReLoBlurDataset(root, "train")
    (root / "test/s01_01/00/00_sharp.png").unlink()
    with pytest.raises(BlurmapError, match="no 00_sharp partner"):
        ReLoBlurDataset(root, "test")
