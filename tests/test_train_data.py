"""Augmentation, deterministic data streams and the phase schedule."""

import numpy as np
import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.train.data import Augment, random_crop, rot_flip
from blurmap.train.recipe import Phase
from blurmap.train.sampling import SeededDataset, StreamBatchSampler, make_stream_loader
from blurmap.train.schedule import build_schedule, locate


def _sample(h=6, w=8):
    blur = torch.arange(3 * h * w, dtype=torch.float32).reshape(3, h, w)
    return {"blur": blur, "sharp": blur * 2, "mask": blur[:1] + 0.5, "name": "x"}


def test_random_crop_same_window_for_all_keys():
    s = _sample()
    out = random_crop(s, (4, 5), torch.Generator().manual_seed(3))
    assert out["blur"].shape == (3, 4, 5) and out["mask"].shape == (1, 4, 5) and out["name"] == "x"
    # locate the window from the (unique) values of blur; the other keys must match it
    top, left = divmod(int(out["blur"][0, 0, 0]), 8)
    assert torch.equal(out["blur"], s["blur"][:, top:top + 4, left:left + 5])
    assert torch.equal(out["sharp"], out["blur"] * 2)
    assert torch.equal(out["mask"], out["blur"][:1] + 0.5)
    with pytest.raises(ValueError, match="cannot crop 7x5"):
        random_crop(s, (7, 5))


def test_random_crop_covers_all_offsets():
    s = _sample(5, 5)
    g = torch.Generator().manual_seed(0)
    seen = {int(random_crop(s, 4, g)["blur"][0, 0, 0]) for _ in range(200)}
    assert seen == {0, 1, 5, 6}  # (top, left) in {0,1}^2


def test_rot_flip_is_a_dihedral_transform_shared_by_keys():
    s = _sample(4, 4)
    ref = s["blur"].numpy()
    dihedral = [np.rot90(ref, k, axes=(1, 2)) for k in range(4)]
    dihedral += [np.flip(d, axis=2) for d in dihedral]
    g = torch.Generator().manual_seed(1)
    seen = set()
    for _ in range(64):
        out = rot_flip(s, g)
        matches = [i for i, d in enumerate(dihedral) if np.array_equal(out["blur"].numpy(), d)]
        assert len(matches) == 1
        seen.add(matches[0])
        assert torch.equal(out["sharp"], out["blur"] * 2) and torch.equal(out["mask"], out["blur"][:1] + 0.5)
    assert seen == set(range(8))


def test_dual_pixel_flips_keep_disparity_horizontal():
    left = torch.arange(12.0).reshape(1, 3, 4)
    right = -left
    g = torch.Generator().manual_seed(0)
    kinds = set()
    for _ in range(40):
        out = rot_flip({"left": left, "right": right}, g, dual_pixel=True)
        assert out["left"].shape == (1, 3, 4)  # never rotated by 90 degrees
        for vf in (False, True):
            for hf in (False, True):
                dims = ([-2] if vf else []) + ([-1] if hf else [])
                src_l, src_r = (right, left) if hf else (left, right)  # h-flip swaps the views
                exp_l = src_l.flip(dims) if dims else src_l
                exp_r = src_r.flip(dims) if dims else src_r
                if torch.equal(out["left"], exp_l) and torch.equal(out["right"], exp_r):
                    kinds.add((vf, hf))
    assert kinds == {(False, False), (False, True), (True, False), (True, True)}


def test_stream_sampler_partitions_ranks_and_resumes():
    full = list(StreamBatchSampler(10, "d", 0, batch=2, rank=0, world=1, start=0, stop=12))
    positions = [i for b in full for i, _ in b]
    # concatenated permutations: every index once per 10 positions
    assert sorted(positions[:10]) == list(range(10)) and sorted(positions[10:20]) == list(range(10))
    assert positions[:10] != positions[10:20]  # a new permutation per epoch
    # resuming at micro-batch 5 continues the same stream
    tail = list(StreamBatchSampler(10, "d", 0, batch=2, rank=0, world=1, start=5, stop=12))
    assert tail == full[5:]
    # two ranks split one global batch of 4 into disjoint halves of the same stream
    r0 = list(StreamBatchSampler(10, "d", 0, batch=2, rank=0, world=2, start=0, stop=3))
    r1 = list(StreamBatchSampler(10, "d", 0, batch=2, rank=1, world=2, start=0, stop=3))
    merged = [x for a, b in zip(r0, r1) for x in a + b]
    assert merged == [x for b in full[:6] for x in b]


class _Noisy(torch.utils.data.Dataset):
    """Draws from the global RNGs, as on-the-fly synthetic datasets do."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return {"blur": torch.rand(1, 4, 4) + float(np.random.rand()) + i}


def test_loader_is_reproducible_across_worker_counts():
    def batches(workers, start):
        loader = make_stream_loader(_Noisy(), Augment(crop=2), name="n", seed=5, batch=2, rank=0, world=1,
                                    start=start, stop=4, num_workers=workers, pin_memory=False)
        return [b["blur"] for b in loader]

    a, b = batches(0, 0), batches(2, 0)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == 4
    c = batches(0, 2)
    assert all(torch.equal(x, y) for x, y in zip(a[2:], c))
    # the global RNG of the caller is left alone
    torch.manual_seed(1)
    before = torch.rand(1)
    torch.manual_seed(1)
    SeededDataset(_Noisy())[(0, 123)]
    assert torch.equal(torch.rand(1), before)


def test_schedule_alternation_lengths_and_cursors():
    phases = [
        Phase("f_only", epochs=2, train=("f",)),
        Phase("alt", epochs=5, alternate=(Phase("f", epochs=2, train=("f",)), Phase("g", iters=3, train=("g",)))),
        Phase("mix", cycles=2, alternate=(Phase("a", epochs=0.5, data="a"), Phase("b", iters=1, data="b"))),
        Phase("joint", iters=4, data=("a", "b")),
    ]
    segs = build_schedule(phases, {"train": 4, "a": 6, "b": 10}, accum_steps=2)
    got = [(s.name, s.start, s.steps) for s in segs]
    # f_only 2*4=8; alt = 5*4=20 steps: f 8, g 3, f 8, g 1 (cut); mix: (3 + 1) x 2; joint 4
    assert got == [("f_only", 0, 8), ("alt/f", 8, 8), ("alt/g", 16, 3), ("alt/f", 19, 8), ("alt/g", 27, 1),
                   ("mix/a", 28, 3), ("mix/b", 31, 1), ("mix/a", 32, 3), ("mix/b", 35, 1), ("joint", 36, 4)]
    # cursors count micro-batches (2 per step) consumed before each segment
    assert segs[5].cursors == {"train": 2 * 28, "a": 0, "b": 0}
    assert segs[9].cursors == {"train": 56, "a": 2 * 6, "b": 2 * 2}
    assert segs[3].top_start == 8 and segs[3].top_steps == 20
    assert locate(segs, 0) == 0 and locate(segs, 19) == 3 and locate(segs, 40) == len(segs)
    with pytest.raises(ConfigError, match="dataset 'nope'"):
        build_schedule([Phase("x", iters=2, data="nope")], {"train": 3}, 1)
    with pytest.raises(ValueError, match="exactly one of"):
        Phase("x", epochs=1, iters=2)


def test_image_grid_layout_and_map_normalisation():
    from blurmap.train.monitor import image_grid

    img = torch.full((3, 3, 4, 5), 0.25)
    amap = torch.arange(3 * 20, dtype=torch.float32).reshape(3, 1, 4, 5)
    grid = image_grid([img, img, amap], max_rows=2, pad=1)
    assert grid.shape == (3, 2 * 6, 3 * 7)
    tile = grid[:, 1:5, 2 * 7 + 1 : 2 * 7 + 6]  # first row, map column (inside the padding)
    assert torch.allclose(tile[0], (amap[0, 0] - amap[0, 0].min()) / (amap[0, 0].max() - amap[0, 0].min()))
    assert torch.equal(tile[0], tile[2]) and float(grid[0, 0, 0]) == 1.0
