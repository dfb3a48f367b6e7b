"""SyntheticDPDataset: determinism by mode, scene types, item layout, DP consistency, errors."""

import numpy as np
import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.synth import SyntheticDPDataset
from blurmap.synth.bundled import bundled_image

S = 40  # sample side (px): tiny, the renderer's cost grows with it


@pytest.fixture(scope="module")
def photos():
    return [bundled_image("astronaut"), bundled_image("coffee")]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_fixed_mode_same_index_same_sample(photos, one_thread):
    a = SyntheticDPDataset(photos, 3, S, 4.0, seed=11, fixed=True, repeats=2)
    b = SyntheticDPDataset(photos, 3, S, 4.0, seed=11, fixed=True, cache=True, repeats=2)
    assert len(a) == 6
    np.random.seed(123)  # fixed mode ignores the global RNG
    first = a[1]
    np.random.seed(456)
    assert _same(first, a[1]) and _same(first, b[1]) and _same(first, b[1])
    assert _same(first, a[4])  # index i + count repeats scene i
    assert not torch.equal(first["coc"], a[2]["coc"])
    other_seed = SyntheticDPDataset(photos, 3, S, 4.0, seed=12, fixed=True)
    assert not torch.equal(first["coc"], other_seed[1]["coc"])


def test_fresh_mode_new_scene_each_epoch_reproducible_from_global_seed(photos, one_thread):
    ds = SyntheticDPDataset(photos, 2, S, 4.0, fixed=False)
    np.random.seed(5)
    epoch1 = [ds[i]["coc"] for i in range(2)]
    epoch2 = [ds[i]["coc"] for i in range(2)]
    assert all(not torch.equal(x, y) for x, y in zip(epoch1, epoch2))
    np.random.seed(5)  # the engine seeds numpy per sample: a resumed run sees the same scenes
    assert all(torch.equal(x, ds[i]["coc"]) for i, x in enumerate(epoch1))


def test_plane_scene_is_one_slanted_plane_all_out_of_focus(photos, one_thread):
    max_coc = 5.0
    ds = SyntheticDPDataset(photos, 4, S, max_coc, seed=3, scene="plane")
    yy, xx = np.mgrid[0:S, 0:S]
    design = np.stack([np.ones(S * S), xx.ravel(), yy.ravel()], 1)
    # c0 = U(0.3, 1) * max_coc at the centre, tilt factor 1 + 0.3 * (cos, sin) . (x, y) with
    # x, y in [-0.5, 0.5]: the factor stays within 1 -+ 0.3 * max(|cos| + |sin|) / 2 = 1 -+ 0.3 / sqrt(2)
    tilt = 0.3 / np.sqrt(2)
    for i in range(len(ds)):
        s = ds[i]
        coc = s["coc"][0].numpy().astype(np.float64)
        assert np.all(np.sign(coc) == np.sign(coc[0, 0]))
        assert np.abs(coc).min() >= 0.3 * (1 - tilt) * max_coc - 1e-5
        assert np.abs(coc).max() <= (1 + tilt) * max_coc + 1e-5
        _, res, *_ = np.linalg.lstsq(design, coc.ravel(), rcond=None)
        assert float(res[0]) < 1e-8 * S * S  # affine in x, y: a plane
        centre = coc[S // 2 - 1: S // 2 + 1, S // 2 - 1: S // 2 + 1].mean()
        assert 0.3 * max_coc - 1e-4 <= abs(centre) <= max_coc + 1e-4
        # out of focus everywhere: the DP views disagree and the blurred view lost detail
        assert float((s["left"] - s["right"]).abs().mean()) > 1e-3
        grad = lambda t: float((t[..., :, 1:] - t[..., :, :-1]).abs().mean())  # noqa: E731
        assert grad(s["blur"]) < grad(s["sharp"])


def test_random_scene_has_a_focal_plane_and_bounded_peak(photos, one_thread):
    max_coc = 5.0
    ds = SyntheticDPDataset(photos, 4, S, max_coc, seed=1, scene="random")
    for i in range(len(ds)):
        coc = ds[i]["coc"].abs()
        assert float(coc.min()) < 1e-4  # the focal plane is the depth of one of its pixels
        assert 0.4 * max_coc - 1e-4 <= float(coc.max()) <= max_coc + 1e-5


def test_mixed_alternates_random_and_plane(photos, one_thread):
    ds = SyntheticDPDataset(photos, 4, S, 5.0, seed=2, scene="mixed")
    assert [ds.scene_of(i) for i in range(4)] == ["random", "plane", "random", "plane"]
    mins = [float(ds[i]["coc"].abs().min()) for i in range(4)]
    assert mins[0] < 1e-4 and mins[2] < 1e-4
    assert mins[1] > 1.0 and mins[3] > 1.0
    # a mixed set's odd samples are the plane set's samples of the same index and seed
    plane = SyntheticDPDataset(photos, 4, S, 5.0, seed=2, scene="plane")
    assert torch.equal(ds[1]["coc"], plane[1]["coc"])


@pytest.mark.parametrize("scene", ["random", "plane"])
def test_items_shapes_keys_and_combined_is_mean_of_views(photos, scene, one_thread):
    ds = SyntheticDPDataset(photos, 2, S, 4.0, scene=scene)
    s = ds[1]
    assert set(s) == {"blur", "sharp", "left", "right", "coc", "name"}
    assert s["name"] == "synthetic_00001"
    for k in ("blur", "sharp", "left", "right"):
        assert s[k].shape == (3, S, S) and s[k].dtype == torch.float32
        assert float(s[k].min()) >= 0 and float(s[k].max()) <= 1
    assert s["coc"].shape == (1, S, S) and s["coc"].dtype == torch.float32
    mean_lin = (s["left"].double() ** 2.2 + s["right"].double() ** 2.2) / 2  # the views' mean in linear light
    torch.testing.assert_close(s["blur"].double() ** 2.2, mean_lin, atol=2e-6, rtol=0)
    some = SyntheticDPDataset(photos, 2, S, 4.0, scene=scene, keys=("blur", "coc"))
    t = some[1]
    assert set(t) == {"blur", "coc"} and torch.equal(t["blur"], s["blur"])
    with pytest.raises(IndexError):
        ds[2]


def test_bad_settings_are_config_errors(photos):
    with pytest.raises(ConfigError, match="cube"):
        SyntheticDPDataset(photos, 2, S, 4.0, scene="cube")
    with pytest.raises(ConfigError, match="depth"):
        SyntheticDPDataset(photos, 2, S, 4.0, keys=("blur", "depth"))
    with pytest.raises(ConfigError, match="fixed"):
        SyntheticDPDataset(photos, 2, S, 4.0, fixed=False, cache=True)
    with pytest.raises(ConfigError):
        SyntheticDPDataset(photos, 0, S, 4.0)
    with pytest.raises(ConfigError):
        SyntheticDPDataset([], 2, S, 4.0)


def test_zoom_windows_span_native_scale_to_zoom_times_wider(one_thread):
    # A horizontal ramp 0..1 over a 400 px square photo: a window of side w shows a value range
    # of about w / 400 whatever it is scaled to, so the range measures the window. zoom 4 at
    # S = 40 px gives windows of 40..160 px (ranges 0.1..0.4); zoom 1 the whole photo (range 1).
    ramp = np.repeat(np.repeat(np.linspace(0, 1, 400, dtype=np.float32)[None, :, None], 400, 0), 3, 2)
    spans = {}
    for zoom in (1.0, 4.0):
        ds = SyntheticDPDataset([ramp], 16, S, 2.0, seed=5, scene="plane", zoom=zoom, keys=("sharp",))
        spans[zoom] = np.array([float(ds[i]["sharp"][0].max() - ds[i]["sharp"][0].min()) for i in range(16)])
    assert np.all(spans[1.0] > 0.9)  # whole photo each time
    assert np.all(spans[4.0] > 0.1 - 0.03) and np.all(spans[4.0] < 0.4 + 0.03)
    assert spans[4.0].min() < 0.17 and spans[4.0].max() > 0.25  # both ends of [1, 4] are drawn


def test_zoom_one_renders_the_same_bits_as_the_default(photos, one_thread):
    a = SyntheticDPDataset(photos, 2, S, 4.0, seed=3, scene="mixed")
    b = SyntheticDPDataset(photos, 2, S, 4.0, seed=3, scene="mixed", zoom=1.0)
    c = SyntheticDPDataset(photos, 2, S, 4.0, seed=3, scene="mixed", zoom=3.0)
    assert _same(a[0], b[0]) and _same(a[1], b[1])
    assert not torch.equal(a[0]["sharp"], c[0]["sharp"])
    with pytest.raises(ConfigError, match="zoom"):
        SyntheticDPDataset(photos, 2, S, 4.0, zoom=0.5)


def test_texture_photos_join_the_training_side_only():
    from blurmap.synth.bundled import TEXTURE_NAMES, bundled_split

    train, held = bundled_split(["chelsea"], False, textures=True), bundled_split(["chelsea"], True, textures=True)
    assert len(train) == len(bundled_split(["chelsea"], False)) + len(TEXTURE_NAMES) and len(held) == 1
    for img in train[-len(TEXTURE_NAMES):]:
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.float32 and 0 <= img.min() <= img.max() <= 1
    gray = bundled_image("camera")  # grey-scale sample repeated to 3 channels
    assert np.array_equal(gray[..., 0], gray[..., 2])


def test_a_held_out_texture_sample_moves_to_the_held_out_side():
    from blurmap.synth.bundled import TEXTURE_NAMES, bundled_split

    train = bundled_split(["chelsea", "camera"], False, textures=True)
    held = bundled_split(["chelsea", "camera"], True, textures=True)
    camera, chelsea = bundled_image("camera"), bundled_image("chelsea")
    assert len(train) == len(bundled_split(["chelsea"], False)) + len(TEXTURE_NAMES) - 1
    assert not any(img.shape == camera.shape and np.array_equal(img, camera) for img in train)
    assert len(held) == 2 and np.array_equal(held[0], chelsea) and np.array_equal(held[1], camera)
    with pytest.raises(ConfigError, match="unknown bundled photo 'lena'"):
        bundled_split(["lena"], True)
