"""DP generator: scene depth -> CoC, DPDD layout on disk, determinism."""

import json

import cv2
import numpy as np
import pytest

from blurmap.errors import BlurmapError
from blurmap.synth.bundled import bundled_disparity
from blurmap.synth.dp import coc_from_inverse_depth, generate_dp, random_inverse_depth, split_counts


def test_split_counts_dpdd_proportions():
    assert split_counts(500) == (350, 74, 76)
    assert split_counts(1000) == (700, 148, 152)
    assert split_counts(3) == (1, 1, 1)
    assert split_counts(1) == (1, 0, 0)
    for n in range(1, 40):
        assert sum(split_counts(n)) == n


def test_coc_from_inverse_depth_sign_focus_and_bound():
    rng = np.random.default_rng(0)
    u = np.linspace(0.0, 1.0, 200, dtype=np.float32).reshape(10, 20)
    coc, info = coc_from_inverse_depth(rng, u, max_coc=12.0)
    assert np.abs(coc).max() <= 12.0 + 1e-6
    assert 0.4 * 12 - 1e-4 <= info["peak_coc"] <= 12.0 + 1e-6
    assert np.abs(coc).min() < 1e-6  # the focal plane is a pixel of the scene
    # larger inverse depth (nearer) -> smaller (more negative) CoC: front of focus is negative
    assert np.all(np.diff(coc.ravel()) <= 1e-6)
    np.testing.assert_allclose(coc, info["gain"] * (info["focus_inverse_depth"] - u), atol=1e-4)


def test_layers_follow_image_and_are_in_front():
    rng = np.random.default_rng(2)
    img = np.zeros((60, 80, 3), np.float32)
    img[:, 40:] = 1.0  # two flat regions: depth edges should snap to the image edge
    u = random_inverse_depth(rng, img, "layers")
    assert u.shape == (60, 80) and u.dtype == np.float32
    assert u.max() > 0.45  # at least one near plane above the background (<= 0.4)
    ramp = random_inverse_depth(rng, img, "ramp")
    assert np.ptp(ramp) > 0.5
    with pytest.raises(ValueError):
        random_inverse_depth(rng, img, "sphere")


def test_bundled_disparity_is_finite():
    img, disp = bundled_disparity()
    assert img.shape[:2] == disp.shape and np.isfinite(disp).all() and disp.min() > 0


@pytest.fixture(scope="module")
def dp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dp") / "out"
    generate_dp("bundled", root, 3, seed=5, size=(40, 56), max_coc=6.0)
    return root


def test_dpdd_layout(dp_root):
    want = {
        "train": ["1P0A0000"],
        "val": ["1P0A0002"],
        "test": ["1P0A0004"],
    }
    for split, stems in want.items():
        src = sorted(p.name for p in (dp_root / f"{split}_c/source").iterdir())
        tgt = sorted(p.name for p in (dp_root / f"{split}_c/target").iterdir())
        assert src == [f"{s}.png" for s in stems]
        assert tgt == [f"1P0A{int(s[4:]) + 1:04d}.png" for s in stems]  # next frame number
        assert sorted(p.name for p in (dp_root / f"{split}_l/source").iterdir()) == [f"{s}_L.png" for s in stems]
        assert sorted(p.name for p in (dp_root / f"{split}_r/source").iterdir()) == [f"{s}_R.png" for s in stems]
        assert sorted(p.name for p in (dp_root / f"{split}_c/coc").iterdir()) == [f"{s}.npy" for s in stems]
        for s in stems:
            for f in (f"{split}_c/source/{s}.png", f"{split}_l/source/{s}_L.png", f"{split}_r/source/{s}_R.png"):
                a = cv2.imread(str(dp_root / f), cv2.IMREAD_UNCHANGED)
                assert a.dtype == np.uint16 and a.shape == (40, 56, 3)
            coc = np.load(dp_root / f"{split}_c/coc/{s}.npy")
            assert coc.dtype == np.float32 and coc.shape == (40, 56)
            assert np.abs(coc).max() <= 6.0
    m = json.loads((dp_root / "manifest.json").read_text())
    assert m["seed"] == 5 and m["splits"] == {"train": 1, "val": 1, "test": 1}
    assert [s["image"] for s in m["samples"]] == ["astronaut", "chelsea", "coffee"]


def test_combined_is_mean_of_views_and_sharp_where_in_focus(dp_root):
    L = cv2.imread(str(dp_root / "train_l/source/1P0A0000_L.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    R = cv2.imread(str(dp_root / "train_r/source/1P0A0000_R.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    C = cv2.imread(str(dp_root / "train_c/source/1P0A0000.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    T = cv2.imread(str(dp_root / "train_c/target/1P0A0001.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    lin = lambda x: (x / 65535.0) ** 2.2  # noqa: E731
    # the mean of the views in linear light, up to 16-bit rounding (one code step is ~1.5e-5)
    assert np.abs(lin(C) - (lin(L) + lin(R)) / 2).max() <= 5e-5
    assert np.abs(L - R).max() > 100  # the views differ where defocused
    coc = np.abs(np.load(dp_root / "train_c/coc/1P0A0000.npy"))
    near, far = coc < 1.0, coc > 3.0
    assert near.any() and far.any()  # the focal plane is in the scene; the peak is >= 0.4 * 6
    # the defocused region departs more from the all-in-focus target than the focused one
    assert np.mean(np.abs(C - T)[far]) > 2 * np.mean(np.abs(C - T)[near])


def test_same_seed_same_files(dp_root, tmp_path):
    again = generate_dp("bundled", tmp_path / "again", 3, seed=5, size=(40, 56), max_coc=6.0)
    for p in sorted(dp_root.rglob("*")):
        if p.is_file():
            assert (again / p.relative_to(dp_root)).read_bytes() == p.read_bytes(), p


def test_dp_errors(tmp_path):
    with pytest.raises(BlurmapError, match="count"):
        generate_dp("bundled", tmp_path / "a", 0)
    with pytest.raises(BlurmapError, match="max-coc"):
        generate_dp("bundled", tmp_path / "a", 1, max_coc=0)
    with pytest.raises(BlurmapError, match="not found"):
        generate_dp(tmp_path / "missing", tmp_path / "a", 1)
    assert not (tmp_path / "a").exists()
