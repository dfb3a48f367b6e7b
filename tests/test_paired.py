"""Paired folders reader: blur/, sharp/, optional mask/ with matching names."""

import numpy as np
import pytest
from PIL import Image

from blurmap.data.paired import PairedFolders
from blurmap.errors import BlurmapError


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("a", "b"):
        _png(tmp_path / "blur" / f"{name}.png", rng.integers(0, 256, (8, 9, 3), dtype=np.uint8))
        _png(tmp_path / "sharp" / f"{name}.png", rng.integers(0, 256, (8, 9, 3), dtype=np.uint8))
        m = np.zeros((8, 9), np.uint8)
        m[:4] = 255
        _png(tmp_path / "mask" / f"{name}.png", m)
    return tmp_path


def test_paired_items(root):
    ds = PairedFolders(root)
    assert len(ds) == 2 and ds.has_mask
    item = ds[1]
    assert item["name"] == "b"
    assert item["mask"].shape == (1, 8, 9) and item["mask"].sum().item() == 4 * 9
    blur = np.asarray(Image.open(root / "blur/b.png"), np.float32) / 255
    np.testing.assert_allclose(item["blur"].numpy().transpose(1, 2, 0), blur, atol=1e-6)


def test_paired_split_subfolder(root, tmp_path_factory):
    parent = tmp_path_factory.mktemp("p")
    root.rename(parent / "test")
    assert len(PairedFolders(parent, split="test")) == 2


def test_paired_errors(root):
    (root / "sharp/a.png").unlink()
    with pytest.raises(BlurmapError, match="missing sharp image"):
        PairedFolders(root)
    with pytest.raises(BlurmapError, match="paired layout"):
        PairedFolders(root / "nothing")


def test_paired_size_mismatch(root):
    _png(root / "sharp/a.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(BlurmapError, match="sharp is"):
        PairedFolders(root)[0]
