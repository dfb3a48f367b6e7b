"""DPDD-layout reader (blurmap.data.dpdd) on tiny hand-made folders."""

import numpy as np
import pytest
import torch

from blurmap.data.dpdd import DPDDDataset, list_dpdd
from blurmap.errors import BlurmapError
from blurmap.io import write_image


def _make(root, split="train", n=2, h=12, w=16, coc=True, right=True):
    rng = np.random.default_rng(0)
    arrays = {}
    for i in range(n):
        stem, target = f"1P0A{10 + 2 * i:04d}", f"1P0A{11 + 2 * i:04d}"
        # 16-bit values that 8 bits could not hold
        imgs = {k: (rng.integers(0, 65536, (h, w, 3)) / 65535.0).astype(np.float32) for k in "stlr"}
        (root / f"{split}_c/source").mkdir(parents=True, exist_ok=True)
        (root / f"{split}_c/target").mkdir(parents=True, exist_ok=True)
        (root / f"{split}_l/source").mkdir(parents=True, exist_ok=True)
        (root / f"{split}_r/source").mkdir(parents=True, exist_ok=True)
        write_image(root / f"{split}_c/source/{stem}.png", imgs["s"], bits=16)
        write_image(root / f"{split}_c/target/{target}.png", imgs["t"], bits=16)
        write_image(root / f"{split}_l/source/{stem}_L.png", imgs["l"], bits=16)
        if right:
            write_image(root / f"{split}_r/source/{stem}_R.png", imgs["r"], bits=16)
        if coc:
            (root / f"{split}_c/coc").mkdir(exist_ok=True)
            c = rng.uniform(-25, 25, (h, w)).astype(np.float32)
            np.save(root / f"{split}_c/coc/{stem}.npy", c)
            imgs["c"] = c
        arrays[stem] = imgs
    return arrays


def test_reads_all_views_16bit_and_coc(tmp_path):
    arrays = _make(tmp_path)
    ds = DPDDDataset(tmp_path, "train")
    assert len(ds) == 2
    item = ds[1]
    ref = arrays[item["name"]]
    assert item["name"] == "1P0A0012"
    for key, tag in (("blur", "s"), ("sharp", "t"), ("left", "l"), ("right", "r")):
        assert item[key].shape == (3, 12, 16) and item[key].dtype == torch.float32
        np.testing.assert_allclose(item[key].permute(1, 2, 0).numpy(), ref[tag], atol=1e-6)
    np.testing.assert_array_equal(item["coc"][0].numpy(), ref["c"])
    assert "coc" not in DPDDDataset(tmp_path, "train", with_coc=False)[0]


def test_pairs_by_sorted_order(tmp_path):
    _make(tmp_path, n=3)
    files = list_dpdd(tmp_path, "train")
    assert [f.source.stem for f in files] == ["1P0A0010", "1P0A0012", "1P0A0014"]
    assert [f.target.stem for f in files] == ["1P0A0011", "1P0A0013", "1P0A0015"]
    assert all(f.left.name == f.source.stem + "_L.png" for f in files)


def test_patch_is_the_same_window_everywhere(tmp_path):
    _make(tmp_path)
    full = DPDDDataset(tmp_path, "train")[0]
    ds = DPDDDataset(tmp_path, "train", patch_size=8, seed=3)
    crop = ds[0]
    assert crop["blur"].shape == (3, 8, 8) and crop["coc"].shape == (1, 8, 8)
    # locate the window in the full blur image and check every tensor used it
    blur = full["blur"]
    hits = [(y, x) for y in range(5) for x in range(9) if torch.equal(blur[:, y : y + 8, x : x + 8], crop["blur"])]
    assert len(hits) == 1
    y, x = hits[0]
    for key in ("sharp", "left", "right", "coc"):
        assert torch.equal(full[key][..., y : y + 8, x : x + 8], crop[key])
    assert torch.equal(ds[0]["blur"], crop["blur"])  # deterministic


def test_errors_name_the_file(tmp_path):
    with pytest.raises(BlurmapError, match="folder not found"):
        list_dpdd(tmp_path, "test")
    _make(tmp_path, right=False)
    with pytest.raises(BlurmapError, match=r"1P0A0010_R\.png: missing right view"):
        list_dpdd(tmp_path, "train")


def test_size_mismatch_and_small_patch(tmp_path):
    _make(tmp_path, n=1)
    write_image(tmp_path / "train_l/source/1P0A0010_L.png", np.zeros((10, 16, 3), np.float32), bits=16)
    with pytest.raises(BlurmapError, match="1P0A0010_L.png: left is"):
        DPDDDataset(tmp_path, "train")[0]
    _make(tmp_path, n=1)
    with pytest.raises(BlurmapError, match="smaller than"):
        DPDDDataset(tmp_path, "train", patch_size=64)[0]


def test_source_without_views_when_not_required(tmp_path):
    _make(tmp_path, n=1)
    import shutil

    shutil.rmtree(tmp_path / "train_l")
    shutil.rmtree(tmp_path / "train_r")
    item = DPDDDataset(tmp_path, "train", require_dp=False)[0]
    assert "left" not in item and item["blur"].shape == (3, 12, 16)
