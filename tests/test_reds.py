"""REDS reader on a fixture written in the real layout."""

import numpy as np
import pytest
from PIL import Image

from blurmap.data.reds import REDSDataset, REDSVideo
from blurmap.errors import BlurmapError


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def reds_root(tmp_path):
    rng = np.random.default_rng(0)
    for clip in ("000", "001"):
        for k in range(3):
            name = f"{k:08d}.png"
            sharp = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
            _png(tmp_path / "train" / "train_sharp" / clip / name, sharp)
            _png(tmp_path / "train" / "train_blur" / clip / name, 255 - sharp)
        for j in range(15):  # 5 raw frames per sharp frame
            _png(tmp_path / "train" / "train_orig" / clip / f"{j:08d}.png", np.full((12, 20, 3), j, np.uint8))
    return tmp_path


def test_reds_pairs_values_and_names(reds_root):
    ds = REDSDataset(reds_root, "train")
    assert len(ds) == 6
    item = ds[4]
    assert item["name"] == "001/00000001"
    assert item["blur"].shape == (3, 12, 20) and item["blur"].dtype.is_floating_point
    sharp = np.asarray(Image.open(reds_root / "train/train_sharp/001/00000001.png"), np.float32) / 255
    np.testing.assert_allclose(item["sharp"].numpy().transpose(1, 2, 0), sharp, atol=1e-6)
    np.testing.assert_allclose(item["blur"].numpy(), 1 - item["sharp"].numpy(), atol=1e-6)


def test_reds_clip_filter_and_flow_pair(reds_root):
    ds = REDSDataset(reds_root, "train", clips=["001"])
    assert len(ds) == 3
    a, b = ds.flow_pair(2)  # sharp frame 2 of 3 -> raw frame round(2 * 15 / 3) = 10
    assert a.shape == (3, 12, 20)
    assert round(a[0, 0, 0].item() * 255) == 10 and round(b[0, 0, 0].item() * 255) == 11


def test_reds_video_pairs(reds_root):
    assert len(REDSVideo(reds_root, "train")) == 2 * 14
    one = REDSVideo(reds_root, "train", one_per_clip=True, seed=3)
    assert len(one) == 2
    item = one[0]
    assert (item["frame1"] - item["frame0"]).mean().item() == pytest.approx(1 / 255, abs=1e-6)


def test_reds_errors(reds_root, tmp_path):
    (reds_root / "train/train_sharp/000/00000002.png").unlink()
    with pytest.raises(BlurmapError, match="missing sharp frame"):
        REDSDataset(reds_root, "train")
    with pytest.raises(BlurmapError, match="REDS layout"):
        REDSDataset(reds_root, "val")
    assert REDSDataset(reds_root, "train", clips=["001"]).flow_pair(0) is not None


@pytest.fixture
def reds_three_clips(tmp_path):
    """3 clips of 2 sharp frames; every frame's pixels say its clip (value 10 * clip + frame)."""
    for c in range(3):
        for k in range(2):
            _png(tmp_path / "train" / "train_sharp" / f"{c:03d}" / f"{k:08d}.png",
                 np.full((16, 24, 3), 10 * c + k, np.uint8))
    return tmp_path


def test_reds_sharp_frames_walks_every_clip(reds_three_clips, tmp_path_factory):
    from blurmap.data.reds import reds_sharp_frames

    frames = reds_sharp_frames(reds_three_clips)
    assert [f"{p.parent.name}/{p.stem}" for p in frames] == [f"{c:03d}/{k:08d}" for c in range(3) for k in range(2)]
    assert reds_sharp_frames(reds_three_clips / "train" / "train_sharp") == frames
    plain = tmp_path_factory.mktemp("plain")
    _png(plain / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert reds_sharp_frames(plain) is None  # an ordinary image folder


def test_lbs_backgrounds_from_a_reds_root_come_from_every_clip(reds_three_clips):
    from blurmap.synth.sources import SceneSource

    src = SceneSource(str(reds_three_clips), flag="lbs_backgrounds")
    assert len(src) == 6
    rng = np.random.default_rng(0)
    clips = set()
    for _ in range(60):
        scene = src.draw_random(rng, (16, 24))
        clip, frame = scene["name"].split("/")
        value = round(float(scene["image"][0, 0, 0]) * 255)
        assert value == 10 * int(clip) + int(frame[:-4])  # the pixels are that frame's
        clips.add(clip)
    assert clips == {"000", "001", "002"}


def test_the_lbs_dataset_of_the_recipe_sees_every_reds_frame(reds_three_clips):
    from blurmap.train.config import load_config

    lc = load_config("configs/bladenet_reds_voc.yaml", [f"reds_root={reds_three_clips}",
                                                        f"lbs_backgrounds={reds_three_clips}", "lbs_objects=bundled"])
    lbs = lc.recipe_cls(lc.cfg)._lbs(16, 2, 0)
    assert len(lbs.backgrounds) == 6  # 3 clips x 2 frames, not just clip 000
    assert lbs[0]["blur"].shape == (3, 16, 16)
