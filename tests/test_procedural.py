"""Procedural scenes (blurmap.synth.procedural) and what the generators make of them: the physics
of dual-pixel renderings, bit-identical static backgrounds, and the statistics the knobs promise."""

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from blurmap.cli import main
from blurmap.synth.dp import DPConfig, coc_from_inverse_depth, make_dp_sample
from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset, local_config
from blurmap.synth.procedural import ProceduralConfig, power_law_radii, procedural_scene
from blurmap.synth.sources import SceneSource
from blurmap.synth.textures import HELD_OUT_KINDS, TRAIN_KINDS, procedural_texture


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _lin(x):
    return np.clip(x, 0, 1).astype(np.float64) ** 2.2


def test_scene_shapes_ranges_and_determinism():
    a = procedural_scene(np.random.default_rng(3), (48, 80))
    b = procedural_scene(np.random.default_rng(3), (48, 80))
    assert a["image"].shape == (48, 80, 3) and a["inverse_depth"].shape == (48, 80)
    assert a["image"].min() >= 0 and a["image"].max() <= 1
    assert 0 <= a["inverse_depth"].min() and a["inverse_depth"].max() <= 1
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["inverse_depth"], b["inverse_depth"])
    assert set(a["info"]["kinds"]) <= set(TRAIN_KINDS)


def test_nearer_leaves_are_nearer_in_depth():
    """Occlusion and depth agree: where two visible leaves touch, the later (front) one is nearer, up to
    the slope of a surface's own relief between neighbouring pixels."""
    for seed in range(6):
        s = procedural_scene(np.random.default_rng(seed), (96, 96))
        top, u = s["top"], s["inverse_depth"]
        for axis in (0, 1):
            n = top.shape[axis]
            a, b = np.take(top, range(n - 1), axis), np.take(top, range(1, n), axis)
            ua, ub = np.take(u, range(n - 1), axis), np.take(u, range(1, n), axis)
            slope = np.abs(ua - ub)[a == b].max() if (a == b).any() else 0.0
            assert np.all(ua[a > b] >= ub[a > b] - slope - 1e-6)
            assert np.all(ub[b > a] >= ua[b > a] - slope - 1e-6)
        assert s["info"]["surfaces"] >= 1


def test_leaf_sizes_follow_the_power_law():
    """The MLE of a truncated power law's exponent from 20 000 draws is within 0.05 of the setting."""
    from scipy.optimize import minimize_scalar

    lo, hi = 2.0, 120.0
    for exponent in (2.5, 3.0):
        r = power_law_radii(np.random.default_rng(1), 20_000, lo, hi, exponent)
        assert r.min() >= lo and r.max() <= hi

        def nll(a, r=r):  # negative log-likelihood of p(r) = (a - 1) r^-a / (lo^(1-a) - hi^(1-a))
            return -np.sum(np.log((a - 1) / (lo ** (1 - a) - hi ** (1 - a))) - a * np.log(r))

        est = minimize_scalar(nll, bounds=(1.2, 5), method="bounded").x
        assert abs(est - exponent) < 0.05


@pytest.mark.parametrize("fraction", [0.2, 0.6])
def test_flat_sharp_area_fraction_is_as_configured(fraction):
    """On average over scenes, the configured share of the area shows flat or smooth leaves."""
    cfg = ProceduralConfig(smooth_fraction=fraction, leaves=(40, 120))
    areas = [procedural_scene(np.random.default_rng([7, i]), (48, 48), cfg)["info"]["smooth_area"] for i in range(50)]
    assert abs(np.mean(areas) - fraction) < 0.1


def test_coc_histogram_covers_the_requested_range():
    max_coc = 25.0
    peaks, hist = [], np.zeros(5)
    for i in range(40):
        rng = np.random.default_rng([11, i])
        u = procedural_scene(rng, (48, 48))["inverse_depth"]
        coc, info = coc_from_inverse_depth(rng, u, max_coc, 0.4, nothing_in_focus=0.1, all_in_focus=0.05)
        assert np.abs(coc).max() <= max_coc
        peaks.append(np.abs(coc).max())
        hist += np.histogram(np.abs(coc), bins=5, range=(0, max_coc))[0]
    assert max(peaks) >= 0.9 * max_coc
    assert np.all(hist > 0)  # every fifth of 0..25 px is reached


def test_focus_modes():
    u = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    nothing = coc_from_inverse_depth(np.random.default_rng(0), u, 20.0, nothing_in_focus=1.0)
    assert nothing[1]["focus"] == "nothing" and np.abs(nothing[0]).min() >= 0.5
    everything = coc_from_inverse_depth(np.random.default_rng(0), u, 20.0, all_in_focus=1.0)
    assert everything[1]["focus"] == "all" and np.abs(everything[0]).max() < 0.5
    # both probabilities 0: no draw for the mode, so the stream is as before they existed
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    coc_from_inverse_depth(r1, u, 20.0)
    r2.integers(u.size), r2.uniform(0.4, 1.0)
    assert r1.random() == r2.random()


@pytest.fixture(scope="module")
def dp_scene():
    rng = np.random.default_rng(58)  # mostly defocused, with in-focus regions far from defocused ones
    src = SceneSource("procedural")
    scene = src.draw(0, rng, (128, 160))
    return make_dp_sample(scene["image"], rng, None, DPConfig(max_coc=6.0), scene["inverse_depth"], "procedural")


def test_dp_combined_is_the_linear_mean_of_the_views(dp_scene):
    s = dp_scene
    np.testing.assert_allclose(_lin(s["combined"]), (_lin(s["left"]) + _lin(s["right"])) / 2, atol=2e-6)


def test_dp_views_agree_where_in_focus_away_from_blurred_occluders(dp_scene):
    s = dp_scene
    sharp = np.abs(s["coc"]) < 0.5
    # beyond the reach of every defocused layer: its radius plus the renderer's low-resolution
    # resampling (two coarse pixels at 1/2 resolution for radii <= 8 px)
    far = ndimage.distance_transform_edt(sharp) > np.abs(s["coc"]).max() + 8
    assert far.sum() > 100
    assert np.abs(s["left"] - s["right"])[far].max() < 1e-4
    assert np.abs(s["left"] - s["aif"])[far].max() < 1e-4


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_dp_disparity_sign_follows_the_coc_sign(sign):
    """On a textured fronto-parallel plane, the left view is displaced left of the right view behind the
    focal plane (CoC > 0) and right of it in front (CoC < 0): ``L(x) = R(x + d)`` with ``sign(d) = sign(CoC)``."""
    from blurmap.physics.defocus import render_dual_pixel

    tex = procedural_texture("noise", np.random.default_rng(2), 96, 96)
    aif = torch.from_numpy(tex.transpose(2, 0, 1).copy())[None]
    coc = torch.full((1, 1, 96, 96), 8.0 * sign)
    left, right, _ = render_dual_pixel(aif, coc, max_radius=10)
    lg, rg = (t[0].mean(0).numpy().astype(np.float64)[:, 20:-20] for t in (left, right))
    shifts = list(range(-8, 9))
    err = [np.mean((lg[:, 10:-10] - np.roll(rg, -d, axis=1)[:, 10:-10]) ** 2) for d in shifts]
    d = shifts[int(np.argmin(err))]
    assert np.sign(d) == sign and abs(d) >= 2


def test_local_backgrounds_stay_bit_identical_outside_the_mask():
    cfg, proc = local_config(LocalBlurConfig(), {"extent": [0, 60], "rotation": 10, "scale": 0.15,
                                                 "num_static": [0, 3], "noise": 1e-3, "read_noise": 5e-3,
                                                 "defocus_prob": 0.5})
    ds = LocalBlurDataset(96, 6, 4, "procedural,bundled", "procedural,bundled", cfg, proc)
    for i in range(6):
        s = ds[i]
        outside = (s["mask"][0] == 0).expand_as(s["blur"])
        assert torch.equal(s["blur"][outside], s["sharp"][outside])
        assert float(s["mask"].sum()) > 0


def test_local_motion_extent_is_end_to_end_px():
    """With no jitter, the object's centre moves exactly ``extent`` px from the first to the last frame."""
    from dataclasses import replace

    from blurmap.physics.motion import MotionRanges, random_trajectory

    ranges = replace(MotionRanges(), extent=(30.0, 30.0), rotation=0.0, scale=0.0, translation_jitter=0.0,
                     zoom_jitter=0.0, spin_jitter=0.0)
    for n in (7, 13):
        mats = random_trajectory(np.random.default_rng(n), n, (10, 10), (60.0, 60.0), (120, 120), ranges)
        c = mats @ np.array([4.5, 4.5, 1.0])  # the cut-out's centre in every frame
        assert abs(np.hypot(*(c[-1] - c[0])) - 30.0) < 1e-6
    turned = replace(ranges, turn=90.0)
    mats = random_trajectory(np.random.default_rng(1), 13, (10, 10), (60.0, 60.0), (120, 120), turned)
    c = mats @ np.array([4.5, 4.5, 1.0])
    path = np.hypot(*np.diff(c, axis=0).T).sum()
    assert abs(path - 30.0) < 1e-6 and np.hypot(*(c[-1] - c[0])) < 29.9  # a curved path of the same length


def test_held_out_textures_are_not_in_the_training_defaults():
    assert not set(HELD_OUT_KINDS) & set(ProceduralConfig().textures)
    for kind in HELD_OUT_KINDS:
        t = procedural_texture(kind, np.random.default_rng(0), 20, 30)
        assert t.shape == (20, 30, 3) and 0 <= t.min() and t.max() <= 1


def test_synth_dp_procedural_reaches_large_blur(tmp_path):
    out = tmp_path / "dp"
    assert main(["synth", "dp", "--images", "procedural", "--count", "6", "--size", "448x320", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert max(s["peak_coc"] for s in manifest["samples"]) >= 18
    assert len(list(out.glob("*_c/coc/*.npy"))) == 6


@pytest.mark.parametrize("args, message", [
    (["synth", "dp", "--images", "procedural,nope", "-n", "1"], "nope: image folder not found"),
    (["synth", "dp", "--images", "procedural", "-n", "1", "--nothing-in-focus", "0.8", "--all-in-focus", "0.5"],
     "summing to <= 1"),
    (["synth", "dp", "--images", "procedural", "-n", "1", "--psf", "BAD_TABLE"], "odd K"),
    (["synth", "dp", "--images", "procedural", "-n", "1", "--tone", "filmic"], "unknown tone curve"),
    (["synth", "local", "--backgrounds", "procedural", "--objects", "procedural", "-n", "1", "--motion-px", "40,10"],
     "MIN <= MAX"),
    (["synth", "local", "--backgrounds", "procedural", "--objects", "nothing_here", "-n", "1"], "not a PASCAL VOC"),
])
def test_synth_bad_input_one_line_and_no_output(tmp_path, capsys, args, message):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((4, 6, 6)))
    out = tmp_path / "out"
    args = [str(bad) if a == "BAD_TABLE" else a for a in args]
    assert main([*args, "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("blurmap: error: ") and message in err and "\n" not in err
    assert not out.exists()
