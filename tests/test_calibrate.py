"""Camera calibration of the DP PSF (``blurmap calibrate``, ``defocus-map --kernel``, ``--swap-views``)."""

import numpy as np
import pytest
import torch
from skimage import data

from blurmap.cli import main
from blurmap.fit import (
    calibrate_camera,
    load_camera_kernel,
    optimize_defocus_map,
    save_camera_kernel,
)
from blurmap.io import write_image
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.dp_family import DPKernelFamily, estimate_vignetting

TRUE = {"rim": 1.5, "power": 4.0, "softness": 0.02, "floor": 0.15, "smooth": 1.0, "vignetting": 0.1}


def _scene(i: int, h: int = 64, w: int = 80) -> torch.Tensor:
    img = [data.astronaut(), data.coffee(), data.chelsea()][i][60 : 60 + 2 * h : 2, 100 : 100 + 2 * w : 2]
    return torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]


def _render(img: torch.Tensor, coc: torch.Tensor, family: DPKernelFamily, gamma: float = 2.2):
    """Views blurred by the family's kernels in linear light, with its light-split tilt."""
    stack = family.kernels("left").detach()
    lin = img**gamma
    v = family.values()["vignetting"]
    x = torch.linspace(-1, 1, img.shape[-1])
    left = defocus_blur(lin, coc, stack, "left") * (1 + v * x)
    right = defocus_blur(lin, coc, stack, "right") * (1 - v * x)
    return left.clamp(0, 1) ** (1 / gamma), right.clamp(0, 1) ** (1 / gamma)


@pytest.fixture(scope="module")
def pairs():
    family = DPKernelFamily(6, **TRUE)
    out = []
    for i, lo, hi in ((0, -5.0, 4.0), (1, 5.0, -3.0), (2, -4.0, 5.0)):
        img = _scene(i)
        coc = torch.linspace(lo, hi, img.shape[-1]).expand(1, 1, *img.shape[-2:]).contiguous()
        out.append((*_render(img, coc, family), coc))
    return out


def test_family_kernels_are_normalised_mirrored_and_centred_left():
    fam = DPKernelFamily(5, **TRUE)
    k = fam.kernels("left").detach()
    assert k.shape == (6, fam.size, fam.size)
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(6))
    assert bool((k >= 0).all()) and float(k[0].max()) == 1.0
    torch.testing.assert_close(fam.kernels("right"), k.flip(-1))
    x = torch.arange(fam.size, dtype=torch.float32) - fam.size // 2
    assert bool(((k[1:] * x).sum((-2, -1)) < 0).all())  # positive CoC: left centroid left of centre
    with pytest.raises(ValueError):
        DPKernelFamily(5, sharpness=1.0)


def test_vignetting_estimate_matches_the_rendered_tilt(pairs):
    for left, right, _ in pairs:
        # the closed form is only a start: on 80 px wide views the disparity biases it
        assert 0.05 < estimate_vignetting(left, right) < 0.13
        assert -0.13 < estimate_vignetting(right, left) < -0.05


def test_calibration_recovers_the_family(pairs):
    cal = calibrate_camera([(l, r) for l, r, _ in pairs], max_coc=6, steps=120, coarse_pixels=4000,
                           min_textured=100)
    got = cal.family.values()
    assert abs(got["vignetting"] - TRUE["vignetting"]) < 0.02
    # the split floor (the light the far photodiode still gets) is identified; the ramp's
    # shape and the rim trade off against each other in the consistency loss, so they are not
    assert abs(got["floor"] - TRUE["floor"]) < 0.03, got
    assert not cal.mirrored and not cal.looks_mirrored
    swapped = calibrate_camera([(r, l) for l, r, _ in pairs], max_coc=6, steps=1, coarse_pixels=4000,
                               min_textured=100)
    assert swapped.looks_mirrored and len(swapped.mirrored) == 3


def test_swap_views_flips_the_sign(pairs):
    left, right, coc = pairs[0]
    kw = {"steps": 40, "refine_steps": 0, "coarse_pixels": 4000, "max_coc": 6.0, "calibrate": False}
    a = optimize_defocus_map(left, right, **kw)
    b = optimize_defocus_map(left, right, swap_views=True, **kw)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert float((a - coc)[inner].abs().mean()) < 1.0
    assert float((b + coc)[inner].abs().mean()) < 1.0


def _write_pair(d, left, right, tag):
    for name, v in (("L", left), ("R", right)):
        write_image(d / f"{tag}{name}.png", v[0].permute(1, 2, 0).clamp(0, 1).numpy(), bits=16)
    return str(d / f"{tag}L.png"), str(d / f"{tag}R.png")


def test_calibrate_cli_writes_a_kernel_defocus_map_reads(pairs, tmp_path, capsys):
    args = ["calibrate", "-o", str(tmp_path / "cam.safetensors"), "--steps", "3", "--max-coc", "6",
            "--min-textured", "100"]
    for i, (l, r, _) in enumerate(pairs[:2]):
        lp, rp = _write_pair(tmp_path, l, r, str(i))
        args += ["--left", lp, "--right", rp]
    assert main(args) == 0
    fam = load_camera_kernel(tmp_path / "cam.safetensors")
    assert isinstance(fam, DPKernelFamily) and abs(fam.values()["vignetting"] - TRUE["vignetting"]) < 0.03
    out = tmp_path / "m.npy"
    assert main(["defocus-map", "--left", str(tmp_path / "0L.png"), "--right", str(tmp_path / "0R.png"),
                 "-o", str(out), "--kernel", str(tmp_path / "cam.safetensors"), "--steps", "5"]) == 0
    assert np.load(out).shape == (64, 80)


def test_calibrate_refuses_bad_pairs_without_output(pairs, tmp_path, capsys):
    l, r, _ = pairs[0]
    lp, rp = _write_pair(tmp_path, l, r, "a")
    small = tmp_path / "small.png"
    write_image(small, np.zeros((60, 80, 3), np.float32), bits=8)
    flat = tmp_path / "flat.png"
    write_image(flat, np.full((64, 80, 3), 0.5, np.float32), bits=8)
    out = tmp_path / "cam.safetensors"
    cases = [(["--left", lp, "--right", str(small)], "right is 80x60"),
             (["--left", lp, "--right", rp, "--left", str(small), "--right", str(small)], "one camera at one size"),
             (["--left", str(flat), "--right", str(flat)], "textured pixels"),
             (["--left", lp, "--left", lp, "--right", rp], "one --right per --left")]
    for extra, message in cases:
        capsys.readouterr()
        assert main(["calibrate", "-o", str(out), "--steps", "2", *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()


def test_bad_kernel_file_is_one_line(pairs, tmp_path, capsys):
    l, r, _ = pairs[0]
    lp, rp = _write_pair(tmp_path, l, r, "k")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    out = tmp_path / "m.npy"
    for kernel in (bad, tmp_path / "missing.safetensors"):
        capsys.readouterr()
        assert main(["defocus-map", "--left", lp, "--right", rp, "-o", str(out), "--kernel", str(kernel)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--kernel" in err[0] and str(kernel) in err[0], err
        assert not out.exists()


def test_saved_family_round_trips(tmp_path):
    fam = DPKernelFamily(4, **TRUE)
    save_camera_kernel(tmp_path / "f.safetensors", fam)
    back = load_camera_kernel(tmp_path / "f.safetensors")
    torch.testing.assert_close(back.kernels("left"), fam.kernels("left"))


def test_a_camera_file_starts_the_recipes_kernel_bank(tmp_path):
    from blurmap.fit import camera_kernel_stack
    from blurmap.train.config import load_config

    fam = DPKernelFamily(25, **TRUE)
    save_camera_kernel(tmp_path / "cam.safetensors", fam)
    data_ = {"recipe": "defocus_map", "synthetic_count": 2, "max_coc": 10.0,
             "kernel_file": str(tmp_path / "cam.safetensors")}
    lc = load_config(None, data=data_)
    g = lc.recipe_cls(lc.cfg).build_models()["g"]
    got = g.kernels("left").detach()
    assert got.shape[0] == 11 and torch.allclose(got.sum((-2, -1)), torch.ones(11))
    # the family's own kernels, mirror-symmetrised, at the radii the bank keeps
    want = fam.kernels("left").detach()[:11]
    want = 0.5 * (want + fam.kernels("right").detach()[:11].flip(-1))
    c, k = (want.shape[-1] - got.shape[-1]) // 2, got.shape[-1]
    want = want[..., c:c + k, c:c + k]
    want = want / want.sum((-2, -1), keepdim=True)
    assert torch.allclose(got[1:], want[1:], atol=1e-5)
    default = load_config(None, data={**data_, "kernel_file": None})
    assert not torch.allclose(build_default_kernels(default), got, atol=1e-3)
    # a bank trained by the recipe is a kernel file too
    from blurmap.weights import save_weights

    save_weights(tmp_path / "g.safetensors", g.state_dict(), "dp_kernel_bank", g.init_kwargs)
    assert torch.allclose(camera_kernel_stack(tmp_path / "g.safetensors", 10, g.size), got, atol=1e-6)


def build_default_kernels(loaded):
    from blurmap.models import build_model

    spec = loaded.recipe_cls(loaded.cfg).build_models()["g"]
    return build_model(spec.name, **spec.kwargs).kernels("left").detach()


def test_a_bad_kernel_file_is_one_config_error(tmp_path):
    from blurmap.errors import ConfigError
    from blurmap.train.config import load_config

    save_camera_kernel(tmp_path / "small.safetensors", DPKernelFamily(4))
    for path, msg in [(tmp_path / "missing.safetensors", "kernel_file: "),
                      (tmp_path / "small.safetensors", "reaches radius 4, 10 is needed")]:
        lc = load_config(None, data={"recipe": "defocus_map", "synthetic_count": 2, "max_coc": 10.0,
                                     "kernel_file": str(path)})
        with pytest.raises(ConfigError, match=msg) as ex:
            lc.recipe_cls(lc.cfg).build_models()
        assert "\n" not in str(ex.value)
