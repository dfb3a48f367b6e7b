"""PSF families (blurmap.physics.psf): eq. 3 exactly by default, the sign convention for every
family, hand-computed profiles, tables, and their use by the renderer and the kernel bank."""

import math

import numpy as np
import pytest
import torch

from blurmap.errors import BlurmapError
from blurmap.physics.defocus import render_dual_pixel
from blurmap.physics.kernels import DPKernelBank, dp_kernels
from blurmap.physics.psf import PSF_FAMILIES, PSFSpec, PSFTable, load_psf_table, parse_psf, psf_kernels, psf_stack, random_psf_spec
from blurmap.synth.holdout import HELD_OUT_PSFS


@pytest.mark.parametrize("radius", [0, 0.4, 1, 2.5, 7, 13.25, 25])
def test_default_spec_is_eq3_bit_for_bit(radius):
    a, b = psf_kernels(PSFSpec(), radius), dp_kernels(radius)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def _centroid_x(k: torch.Tensor) -> float:
    x = torch.arange(k.shape[-1], dtype=torch.float64) - k.shape[-1] // 2
    return float((k.double().sum(0) * x).sum())


@pytest.mark.parametrize("name", [*PSF_FAMILIES, "aberrated"])
def test_every_family_is_normalised_and_keeps_the_sign_convention(name):
    spec = PSF_FAMILIES.get(name) or HELD_OUT_PSFS[name]
    for r in (1, 3.5, 9, 20):
        left, right = psf_kernels(spec, r)
        assert float(left.min()) >= 0 and float(right.min()) >= 0
        assert math.isclose(float(left.sum()), 1, abs_tol=1e-5) and math.isclose(float(right.sum()), 1, abs_tol=1e-5)
        # behind the focal plane the left view's PSF leans left, the right view's right
        assert _centroid_x(left) < -0.05 < 0.05 < _centroid_x(right)
        nl, nr = psf_kernels(spec, -r)  # in front: the views swap
        assert torch.equal(nl, right) and torch.equal(nr, left)


def test_pillbox_is_a_split_disk():
    """Hand-computed: an unsmoothed pillbox of radius 3 is the disk d <= 3 times the linear ramp."""
    left, right = psf_kernels(PSFSpec(profile="pillbox", smoothing=0.0), 3)
    yy, xx = np.mgrid[-3:4, -3:4]
    disk = (np.hypot(xx, yy) <= 3).astype(float)
    ramp = 1 - np.arange(7) / 6.0
    want = disk * ramp[None, :]
    np.testing.assert_allclose(left.double().numpy(), want / want.sum(), atol=1e-7)
    np.testing.assert_allclose(right.double().numpy(), (want / want.sum())[:, ::-1], atol=1e-7)


def test_symmetric_gaussian_views_add_up_to_the_gaussian():
    """With a symmetric split the two views' mean is the un-split profile: here exp(-d^2 / 2 sigma^2)."""
    r, sf = 6, 0.5
    left, right = psf_kernels(PSFSpec(profile="gaussian", sigma_factor=sf, smoothing=0.0), r)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    g = np.exp(-(xx**2 + yy**2) / (2 * (sf * r) ** 2))
    np.testing.assert_allclose(((left + right) / 2).double().numpy(), g / g.sum(), atol=1e-7)


def test_asymmetric_views_are_not_mirror_images():
    left, right = psf_kernels(PSF_FAMILIES["asymmetric"], 8)
    assert float((left - right.flip(-1)).abs().max()) > 1e-3
    left, right = psf_kernels(PSF_FAMILIES["gaussian"], 8)
    assert float((left - right.flip(-1)).abs().max()) < 1e-7


def test_random_specs_are_valid_and_never_held_out():
    rng = np.random.default_rng(0)
    for _ in range(300):
        spec = random_psf_spec(rng)
        assert spec.profile != "rim" and spec.ramp == "power"
        left, _ = psf_kernels(spec, 5)
        assert math.isclose(float(left.sum()), 1, abs_tol=1e-5)


def test_table_round_trip_and_render_equal_the_spec(tmp_path):
    spec = PSF_FAMILIES["butterworth-lowpass"]
    both = torch.stack([psf_stack(spec, 10, "left"), psf_stack(spec, 10, "right")], 1)
    np.save(tmp_path / "psf.npy", both.double().numpy())
    table = load_psf_table(tmp_path / "psf.npy")
    for r in (0, 3, 4.5, -7.25):
        a, b = table.pair(r), psf_kernels(spec, r, size=table.size)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    aif = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    coc = torch.linspace(-9, 9, 48).expand(1, 1, 40, 48).contiguous()
    via_table = render_dual_pixel(aif, coc, max_radius=10, max_downsample=1, psf=table)
    via_spec = render_dual_pixel(aif, coc, max_radius=10, max_downsample=1, psf=spec)
    for x, y in zip(via_table, via_spec):
        torch.testing.assert_close(x, y, atol=2e-5, rtol=0)


def test_left_only_table_mirrors_the_right_view():
    k = np.zeros((3, 5, 5))
    k[0, 2, 2] = 1
    k[1, 2, 1:3] = 1
    k[2, 1:4, 0:3] = 1
    t = PSFTable(k, "hand")
    left, right = t.pair(2)
    torch.testing.assert_close(right, left.flip(-1))
    torch.testing.assert_close(left, torch.as_tensor(k[2] / 9.0, dtype=torch.float32))


@pytest.mark.parametrize("array, message", [
    (np.ones((3, 4, 4)), "odd K"),
    (np.ones((1, 5, 5)), r"R\+1 >= 2"),
    (np.ones((3, 5, 6)), r"must be \(R\+1, K, K\)"),
    (-np.ones((3, 5, 5)), "non-negative"),
    (np.zeros((3, 5, 5)), "positive sum"),
    (np.full((3, 5, 5), np.nan), "finite"),
])
def test_bad_tables_are_refused_in_one_line(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(BlurmapError, match=message) as info:
        load_psf_table(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_parse_psf_names_parameters_and_errors(tmp_path):
    assert parse_psf("pillbox") == PSF_FAMILIES["pillbox"]
    assert parse_psf("butterworth:order=2,highpass=false").order == 2
    assert parse_psf("butterworth:highpass=false").highpass is False
    assert parse_psf("random") == "random"
    for bad, msg in (("nope", "unknown PSF family"), ("aberrated", "unknown PSF family"),
                     ("gaussian:colour=3", "bad parameter"), ("gaussian:order=x", "takes a int"),
                     ("gaussian:beta=2", "beta must be")):
        with pytest.raises(BlurmapError, match=msg):
            parse_psf(bad)
    with pytest.raises(BlurmapError, match="not found"):
        parse_psf(str(tmp_path / "missing.npy"))


def test_vignetting_tilts_the_views_but_not_the_combined_view():
    aif = torch.full((1, 3, 16, 33), 0.5)
    coc = torch.full((1, 1, 16, 33), 4.0)
    l0, r0, c0 = render_dual_pixel(aif, coc, max_radius=6, psf=PSFSpec())
    l1, r1, c1 = render_dual_pixel(aif, coc, max_radius=6, psf=PSFSpec(vignetting=0.3))
    torch.testing.assert_close(c1, c0, atol=2e-5, rtol=0)
    lin = lambda t: t.double() ** 2.2  # noqa: E731
    ratio = (lin(l1) / lin(l0))[0, 0, 8]  # one row: 1 + 0.3 x from x = -1 to 1
    assert abs(float(ratio[0]) - 0.7) < 1e-3 and abs(float(ratio[-1]) - 1.3) < 1e-3
    assert float((r1 - r0).abs().max()) > 0.01


def test_kernel_bank_starts_from_any_family():
    bank = DPKernelBank(8, psf=PSF_FAMILIES["pillbox"])
    want = psf_stack(PSF_FAMILIES["pillbox"], 8, "left")
    torch.testing.assert_close(bank.kernels("left")[1:], want[1:], atol=1e-6, rtol=0)
    asym = DPKernelBank(6, psf=PSF_FAMILIES["asymmetric"]).kernels("left")
    left, right = psf_stack(PSF_FAMILIES["asymmetric"], 6, "left"), psf_stack(PSF_FAMILIES["asymmetric"], 6, "right")
    torch.testing.assert_close(asym[3], 0.5 * (left[3] + right[3].flip(-1)), atol=1e-6, rtol=0)


def test_eq3_share_mixes_the_eq3_kernel_into_random_psfs():
    from blurmap.synth.dp import DPConfig
    from blurmap.synth.dp_dataset import dp_scene_config

    cfg, _ = dp_scene_config(20.0, {"psf": "random", "eq3_share": 0.3})
    rng = np.random.default_rng(5)
    draws = [cfg.draw_psf(rng) for _ in range(2000)]
    eq3 = sum(d is None for d in draws) / len(draws)
    assert abs(eq3 - 0.3) < 0.04  # binomial sd ~0.01
    assert all(isinstance(d, PSFSpec) for d in draws if d is not None)
    # without a share the draws are the ones recipes always had: one random spec per sample
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    assert DPConfig(psf="random").draw_psf(a) == random_psf_spec(b)
    # a fixed PSF ignores the share
    assert DPConfig(eq3_share=1.0).draw_psf(np.random.default_rng(0)) is None
    with pytest.raises(BlurmapError, match="eq3_share"):
        DPConfig(eq3_share=1.5)
