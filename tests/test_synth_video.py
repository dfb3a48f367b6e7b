"""Video frame averaging (LODE protocol) from frame folders and video files."""

import json

import cv2
import numpy as np
import pytest

from blurmap.errors import BlurmapError, ImageReadError
from blurmap.synth.video import generate_video


def _frames(folder, n, h=12, w=16, bits=8):
    folder.mkdir()
    rng = np.random.default_rng(0)
    vals = []
    for i in range(n):
        if bits == 16:
            a = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
        else:
            a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i:05d}.png"), a)  # BGR on disk
        vals.append(a[:, :, ::-1].astype(np.float64) / (65535.0 if bits == 16 else 255.0))
    return vals


def test_windows_average_in_linear_light(tmp_path):
    vals = _frames(tmp_path / "f", 40)
    out = generate_video(tmp_path / "o", frames=tmp_path / "f", seed=3)
    m = json.loads((out / "manifest.json").read_text())
    start = 0
    assert m["pairs"]
    for p in m["pairs"]:
        n = p["num_frames"]
        assert n in (7, 9, 11, 13)
        assert p["first"] == f"{start:05d}.png" and p["middle"] == f"{start + n // 2:05d}.png"
        ref = np.mean([v**2.2 for v in vals[start : start + n]], axis=0) ** (1 / 2.2)
        blur = cv2.imread(str(out / "blur" / p["file"]))[:, :, ::-1] / 255.0
        sharp = cv2.imread(str(out / "sharp" / p["file"]))[:, :, ::-1] / 255.0
        assert np.abs(blur - np.round(ref * 255) / 255).max() <= 1 / 255 + 1e-9
        np.testing.assert_array_equal(sharp, vals[start + n // 2])
        start += n
    assert start <= 40 and 40 - start < 13  # windows are consecutive; only a short tail is dropped
    assert sorted(p.name for p in (out / "blur").iterdir()) == [p["file"] for p in m["pairs"]]


def test_same_seed_same_files_and_count_and_16bit(tmp_path):
    _frames(tmp_path / "f", 30, bits=16)
    a = generate_video(tmp_path / "a", frames=tmp_path / "f", seed=1, count=2)
    b = generate_video(tmp_path / "b", frames=tmp_path / "f", seed=1, count=2)
    assert sorted(p.name for p in (a / "blur").iterdir()) == ["000000.png", "000001.png"]
    for sub in ("blur", "sharp"):
        for p in (a / sub).iterdir():
            assert (b / sub / p.name).read_bytes() == p.read_bytes()
    assert cv2.imread(str(a / "blur/000000.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_video_file(tmp_path):
    path = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 120, (32, 24))
    assert wr.isOpened()
    for i in range(20):
        wr.write(np.full((24, 32, 3), 10 * i, np.uint8))
    wr.release()
    out = generate_video(tmp_path / "o", video=path, seed=0)
    m = json.loads((out / "manifest.json").read_text())
    assert m["pairs"][0]["first"] == "frame000000"
    assert cv2.imread(str(out / "blur/000000.png")).shape == (24, 32, 3)


def test_video_errors(tmp_path):
    _frames(tmp_path / "few", 5)
    with pytest.raises(BlurmapError, match="too few frames"):
        generate_video(tmp_path / "o", frames=tmp_path / "few")
    with pytest.raises(BlurmapError, match="exactly one"):
        generate_video(tmp_path / "o", frames=tmp_path / "few", video=tmp_path / "x.mp4")
    with pytest.raises(BlurmapError, match="not found"):
        generate_video(tmp_path / "o", video=tmp_path / "x.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(BlurmapError, match="bad.mp4"):
        generate_video(tmp_path / "o", video=tmp_path / "bad.mp4")
    mixed = tmp_path / "mixed"
    _frames(mixed, 8)
    cv2.imwrite(str(mixed / "00003.png"), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ImageReadError, match="00003.png"):
        generate_video(tmp_path / "o", frames=mixed)
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")]  # no temp folder left
