"""LBS generator (files on disk) and the on-the-fly LocalBlurDataset."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from blurmap.errors import BlurmapError, ImageReadError
from blurmap.synth import bundled_images, bundled_objects
from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset, generate_local


def _read_raw(path):
    """Raw integer samples of a PNG (independent of blurmap.io)."""
    import cv2

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return a


def test_bundled_images_and_objects():
    imgs = bundled_images()
    assert len(imgs) == 7
    for im in imgs:
        assert im.dtype == np.float32 and im.ndim == 3 and im.shape[2] == 3
        assert 0.0 <= im.min() and im.max() <= 1.0
    imgs[0][:] = 0  # a copy: the cache is not touched
    assert bundled_images()[0].max() > 0
    objs = bundled_objects()
    assert len(objs) >= 5
    for c in objs:
        assert c.rgb.shape[:2] == c.alpha.shape
        assert 0.1 < float((c.alpha > 0.5).mean()) < 0.95  # an object, not the whole crop
        assert c.alpha[0].max() < 0.5 and c.alpha[-1].max() < 0.5  # cropped with a clear margin


@pytest.fixture(scope="module")
def lbs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lbs") / "out"
    generate_local("bundled", "bundled", root, 3, seed=7, size=(72, 96), bits=16)
    return root


def test_layout_and_manifest(lbs_root):
    names = ["000000.png", "000001.png", "000002.png"]
    for sub in ("blur", "sharp", "mask"):
        assert sorted(p.name for p in (lbs_root / sub).iterdir()) == names
    m = json.loads((lbs_root / "manifest.json").read_text())
    assert m["seed"] == 7 and m["count"] == 3 and len(m["samples"]) == 3
    assert m["config"]["object_scale"] == 1.2 and m["config"]["num_moving"] == 2
    for s in m["samples"]:
        assert s["num_frames"] in (7, 9, 11, 13) and len(s["moving"]) == 2
    blur = _read_raw(lbs_root / "blur" / names[0])
    mask = _read_raw(lbs_root / "mask" / names[0])
    assert blur.dtype == np.uint16 and blur.shape == (72, 96, 3)
    assert mask.dtype == np.uint8 and mask.shape == (72, 96)
    assert set(np.unique(mask).tolist()) <= {0, 255}


def test_files_outside_mask_bit_identical_and_mask_covers_changes(lbs_root):
    for name in ("000000.png", "000001.png", "000002.png"):
        blur = _read_raw(lbs_root / "blur" / name)
        sharp = _read_raw(lbs_root / "sharp" / name)
        mask = _read_raw(lbs_root / "mask" / name) > 0
        changed = (blur != sharp).any(axis=2)
        assert changed.any()
        assert not (changed & ~mask).any()
        assert np.array_equal(blur[~mask], sharp[~mask])


def test_same_seed_same_bytes_other_seed_differs(lbs_root, tmp_path):
    again = generate_local("bundled", "bundled", tmp_path / "again", 3, seed=7, size=(72, 96), bits=16)
    for sub in ("blur", "sharp", "mask"):
        for p in (lbs_root / sub).iterdir():
            assert (again / sub / p.name).read_bytes() == p.read_bytes()
    assert (again / "manifest.json").read_bytes() == (lbs_root / "manifest.json").read_bytes()
    other = generate_local("bundled", "bundled", tmp_path / "other", 1, seed=8, size=(72, 96), bits=16)
    assert (other / "blur/000000.png").read_bytes() != (lbs_root / "blur/000000.png").read_bytes()


def test_folder_backgrounds_and_voc_objects(tmp_path):
    from tests.test_voc import make_voc

    bgs = tmp_path / "bgs"
    bgs.mkdir()
    Image.fromarray((np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)).save(bgs / "a.png")
    make_voc(tmp_path / "voc", 1)
    out = generate_local(bgs, tmp_path / "voc", tmp_path / "o", 2, seed=1, config=LocalBlurConfig(min_object_area=500))
    m = json.loads((out / "manifest.json").read_text())
    assert all(s["background"] == "a.png" for s in m["samples"])
    assert all(mv["object"].startswith("2007_000000#") for s in m["samples"] for mv in s["moving"])
    assert _read_raw(out / "blur/000001.png").shape == (50, 70, 3)


def test_no_partial_output_on_error(tmp_path):
    bgs = tmp_path / "bgs"
    bgs.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(bgs / "a.png")
    (bgs / "b.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with pytest.raises(ImageReadError, match="b.png"):
        generate_local(bgs, "bundled", tmp_path / "o", 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bgs"]  # no out, no temp folder


def test_refuses_non_empty_out_unless_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(BlurmapError, match="not empty"):
        generate_local("bundled", "bundled", out, 1, size=(32, 32))
    assert (out / "keep.txt").exists()
    generate_local("bundled", "bundled", out, 1, size=(32, 32), overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "blur/000000.png").exists()
    with pytest.raises(BlurmapError, match="count"):
        generate_local("bundled", "bundled", tmp_path / "z", 0)


def test_dataset_deterministic_shapes_and_invariants():
    ds = LocalBlurDataset(size=(64, 80), length=5, seed=3)
    assert len(ds) == 5
    a, b = ds[2], LocalBlurDataset(size=(64, 80), length=5, seed=3)[2]
    assert set(a) == {"blur", "sharp", "mask"}
    assert a["blur"].shape == (3, 64, 80) and a["mask"].shape == (1, 64, 80)
    for k in a:
        assert a[k].dtype == torch.float32
        assert torch.equal(a[k], b[k])
    assert not torch.equal(ds[1]["blur"], a["blur"])
    out = a["mask"][0] == 0
    assert torch.equal(a["blur"][:, out], a["sharp"][:, out])
    assert not torch.equal(a["blur"], a["sharp"])
    with pytest.raises(IndexError):
        ds[5]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["blur"].shape == (2, 3, 64, 80)


def test_num_moving_range_gives_hard_negatives():
    from blurmap.synth.local import local_config

    cfg, _ = local_config(LocalBlurConfig(), {"num_moving": [0, 1]})
    assert cfg.num_moving == (0, 1)
    ds = LocalBlurDataset(48, 10, 3, config=cfg)
    masks = [ds[i]["mask"] for i in range(len(ds))]
    empty = [i for i, m in enumerate(masks) if m.max() == 0]
    assert empty and len(empty) < len(ds)  # both kinds occur in 10 samples
    for i in empty:  # no moving object: nothing is blurred, the pair is identical
        s = ds[i]
        assert torch.equal(s["blur"], s["sharp"])
    none, _ = local_config(LocalBlurConfig(), {"num_moving": 0})
    s = LocalBlurDataset(48, 1, 3, config=none)[0]
    assert s["mask"].max() == 0 and torch.equal(s["blur"], s["sharp"])


@pytest.mark.parametrize("value", [-1, [2, 1], [0, 1, 2], [0.5, 2]])
def test_bad_num_moving_is_one_line_config_error(value):
    from blurmap.errors import ConfigError
    from blurmap.synth.local import local_config

    with pytest.raises(ConfigError, match=r"lbs_options: num_moving: expected a count >= 0") as ex:
        local_config(LocalBlurConfig(), {"num_moving": value})
    assert "\n" not in str(ex.value)
