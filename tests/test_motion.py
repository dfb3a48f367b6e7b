"""physics.motion: trajectories, warps, linear-light frame averaging, LBS compositing."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from blurmap.physics.crf import CRF
from blurmap.physics.motion import (
    MotionRanges,
    MovingObject,
    average_frames,
    random_trajectory,
    sample_num_frames,
    synthesize_local_blur,
    warp_rgba,
)

STILL = MotionRanges(speed=(0.0, 0.0), translation_jitter=0.0, zoom=(0.0, 0.0), zoom_jitter=0.0, spin=(0.0, 0.0), spin_jitter=0.0)


def test_trajectory_length_is_odd_in_7_13():
    rng = np.random.default_rng(1)
    draws = {sample_num_frames(rng) for _ in range(400)}
    assert draws == {7, 9, 11, 13}
    with pytest.raises(ValueError):
        sample_num_frames(rng, 8, 8)


def test_synthesized_lengths_are_odd_in_range():
    bg = torch.full((3, 40, 40), 0.3)
    obj = MovingObject(torch.full((3, 8, 8), 0.9), torch.ones(1, 8, 8), (20.0, 20.0))
    for s in range(30):
        res = synthesize_local_blur(bg, [obj], np.random.default_rng(s))
        assert res.num_frames in (7, 9, 11, 13)
        assert res.trajectories[0].shape == (res.num_frames, 2, 3)


def test_middle_frame_centres_object_at_position():
    rng = np.random.default_rng(3)
    mats = random_trajectory(rng, 9, (21, 31), (100.0, 60.0), (200, 300), initial_angle=10.0)
    assert mats.shape == (9, 2, 3)
    centre = np.array([15.0, 10.0, 1.0])  # ((w-1)/2, (h-1)/2)
    np.testing.assert_allclose(mats[4] @ centre, [100.0, 60.0], atol=1e-9)
    # the object really moves: the first and last frame centres differ
    assert np.linalg.norm(mats[0] @ centre - mats[-1] @ centre) > 1.0


def test_warp_rgba_integer_translation_matches_array_shift():
    rgba = torch.rand(4, 6, 5)
    mats = np.array([[[1.0, 0.0, 7.0], [0.0, 1.0, 3.0]]])  # x += 7, y += 3
    out = warp_rgba(rgba, mats, (0, 20, 0, 20))[0]
    ref = torch.zeros(4, 20, 20)
    ref[:, 3:9, 7:12] = rgba
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    # a window offset only crops the same result
    win = warp_rgba(rgba, mats, (2, 10, 5, 15))[0]
    torch.testing.assert_close(win, ref[:, 2:10, 5:15], atol=1e-6, rtol=0)


def test_average_frames_is_linear_light_mean_numpy_reference():
    frames = np.array([0.0, 1.0, 0.25, 0.6, 0.9], dtype=np.float64)[:, None, None, None] * np.ones((5, 3, 2, 2))
    frames[:, 1] *= 0.5
    got = average_frames(torch.from_numpy(frames).float())
    ref = np.mean(frames**2.2, axis=0, keepdims=True) ** (1 / 2.2)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)
    # and it is not the plain sRGB mean
    assert np.abs(ref - frames.mean(0, keepdims=True)).max() > 0.05
    # two frames 0 and 1 -> 0.5 ** (1/2.2) (hand value 0.72974)
    two = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    assert abs(float(average_frames(two)) - 0.7297400528) < 1e-6


def test_average_frames_with_crf_table():
    # a tabulated CRF equal to x**2 must give sqrt(mean(x**2))
    grid = np.linspace(0, 1, 256)
    crf = CRF(table=torch.tensor(np.stack([grid**2] * 3, axis=1), dtype=torch.float32))
    frames = torch.tensor([0.2, 0.8, 0.5]).view(3, 1, 1, 1).expand(3, 3, 1, 1)
    ref = np.sqrt(np.mean(np.array([0.2, 0.8, 0.5]) ** 2))
    np.testing.assert_allclose(average_frames(frames, crf).numpy(), ref, atol=2e-4)


def _scene(seed=0):
    g = torch.Generator().manual_seed(seed)
    bg = torch.rand(3, 64, 80, generator=g)
    a = torch.zeros(1, 16, 12)
    a[:, 2:14, 2:10] = 1.0
    a[:, 1, 2:10] = 0.5
    objs = [
        MovingObject(torch.rand(3, 16, 12, generator=g), a, (30.0, 25.0), 5.0),
        MovingObject(torch.rand(3, 10, 14, generator=g), torch.ones(1, 10, 14), (55.0, 40.0)),
    ]
    return bg, objs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outside_mask_bit_identical_and_mask_covers_changes(seed):
    bg, objs = _scene(seed)
    res = synthesize_local_blur(bg, objs, np.random.default_rng(seed))
    outside = res.mask[0] == 0
    assert outside.any() and (~outside).any()
    assert torch.equal(res.blur[:, outside], bg[:, outside])
    assert torch.equal(res.sharp[:, outside], bg[:, outside])
    for bits in (8, 16):  # identical after quantization too; every changed level is in the mask
        q = lambda t, b=bits: torch.round(t.clamp(0, 1) * (2**b - 1)).to(torch.int32)  # noqa: E731
        changed = (q(res.blur) != q(res.sharp)).any(0)
        assert not bool((changed & outside).any())
        assert bool(changed.any())
    assert set(torch.unique(res.mask).tolist()) <= {0.0, 1.0}


def test_static_object_gives_no_blur():
    bg, objs = _scene(4)
    res = synthesize_local_blur(bg, objs, np.random.default_rng(0), ranges=STILL)
    torch.testing.assert_close(res.blur, res.sharp, atol=1e-5, rtol=0)
    assert res.mask.sum() > 0


def test_blur_matches_independent_scipy_rendering():
    """Re-render each frame with scipy's affine_transform and composite in numpy."""
    bg, objs = _scene(5)
    res = synthesize_local_blur(bg, objs, np.random.default_rng(5))
    H, W = bg.shape[-2:]
    g = 2.2
    frames = []
    for t in range(res.num_frames):
        lin = bg.numpy().astype(np.float64) ** g
        for obj, mats in zip(objs, res.trajectories):
            m = np.vstack([mats[t], [0, 0, 1]])
            inv = np.linalg.inv(m)  # canvas (x, y) -> object (x, y)
            # scipy works in (row, col): swap axes of the matrix
            P = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], float)
            inv_rc = P @ inv @ P
            alpha = obj.alpha[0].numpy().astype(np.float64)
            rgb_lin = obj.rgb.numpy().astype(np.float64) ** g * alpha
            warp = lambda img, m=inv_rc: ndimage.affine_transform(  # noqa: E731
                img, m[:2, :2], offset=m[:2, 2], output_shape=(H, W), order=1, mode="grid-constant", cval=0.0
            )
            a = np.clip(warp(alpha), 0, 1)
            lin = np.stack([warp(rgb_lin[c]) for c in range(3)]) + lin * (1 - a)
        frames.append(lin)
    ref = np.mean(frames, axis=0) ** (1 / g)
    inside = res.mask[0].numpy() > 0
    np.testing.assert_allclose(res.blur.numpy()[:, inside], ref[:, inside], atol=2e-3)
    mid = frames[res.num_frames // 2] ** (1 / g)
    np.testing.assert_allclose(res.sharp.numpy(), mid, atol=2e-3)
