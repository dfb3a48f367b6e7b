"""``blurmap.eval.defocus_map``: held-out DP scenes and the map scores of the benchmark."""

import numpy as np
import pytest
import torch

from blurmap.eval.defocus_map import heldout_dp_scenes, map_errors, texture_mask
from blurmap.metrics import texture_mask as torch_texture_mask


def test_map_errors_hand_computed():
    aif = np.zeros((4, 4, 3), np.float32)
    aif[:, 2:] = 1.0  # a vertical edge: columns 1 and 2 have gradient 0.5 > 0.02, the rest 0
    true = np.full((4, 4), 3.0)
    coc = true.copy()
    coc[:, 1] = -3.0  # right size, wrong sign: |CoC| error 0, signed error 6
    coc[:, 2] = 5.0  # |CoC| error 2
    coc[0, 0] = 0.0  # an error of 3 on an untextured corner
    e = map_errors(coc, true, aif)
    assert e["mae"] == pytest.approx((2 * 4 + 3) / 16)
    assert e["mae_textured"] == pytest.approx((0 * 4 + 2 * 4) / 8)
    assert e["signed_mae_textured"] == pytest.approx((6 * 4 + 2 * 4) / 8)
    inner = map_errors(coc, true, aif, margin=1)  # rows/columns 1..2 only
    assert inner["mae"] == pytest.approx(2 * 2 / 4) and inner["mae_textured"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ"):
        map_errors(coc[:3], true, aif)


def test_texture_mask_matches_the_recipes_metric():
    rng = np.random.default_rng(0)
    aif = rng.random((20, 24, 3)).astype(np.float32) * np.linspace(0, 0.3, 24, dtype=np.float32)[:, None]
    ours = texture_mask(aif, 0.02)
    theirs = torch_texture_mask(torch.from_numpy(aif).permute(2, 0, 1)[None], 0.02)[0, 0].numpy()
    assert 0.1 < ours.mean() < 0.9 and np.array_equal(ours, theirs)


def test_heldout_scenes_are_fixed_and_cycle_the_photos():
    a = heldout_dp_scenes(3, (48, 64), 6.0)
    b = heldout_dp_scenes(3, (48, 64), 6.0)
    assert [s["name"].split("#")[0] for s in a] == ["chelsea", "camera", "chelsea"]
    for s, t in zip(a, b):
        assert all(np.array_equal(s[k], t[k]) for k in ("aif", "left", "right", "combined", "coc"))
        assert s["left"].shape == (48, 64, 3) and s["coc"].shape == (48, 64)
        assert np.abs(s["coc"]).max() <= 6.0 + 1e-6
    assert not np.array_equal(a[0]["coc"], heldout_dp_scenes(1, (48, 64), 6.0, seed=7)[0]["coc"])
    with pytest.raises(ValueError, match="photos"):
        heldout_dp_scenes(1, (48, 64), 6.0, photos=["astronaut"])
