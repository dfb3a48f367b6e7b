"""Camera effects of the synthetic data (blurmap.synth.camera) against hand-computed references."""

import numpy as np
import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.synth.camera import CameraConfig, add_noise, jpeg_round_trip, tone_curve, vignette_gain


def test_srgb_curve_is_the_iec_formula():
    v = torch.tensor([0.0, 0.02, 0.04045, 0.2, 0.5, 0.9, 1.0]).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    want = torch.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    torch.testing.assert_close(tone_curve("srgb").to_linear(v), want, atol=2e-4, rtol=0)


@pytest.mark.parametrize("name", ["gamma2.2", "gamma2.6", "srgb", "filmic"])
def test_tone_curves_round_trip_and_increase(name):
    crf = tone_curve(name)
    x = torch.linspace(0, 1, 257).view(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous()
    lin = crf.to_linear(x)
    assert bool((lin[..., 1:] > lin[..., :-1]).all())
    torch.testing.assert_close(crf.to_encoded(lin), x, atol=2e-3, rtol=0)


def test_unknown_tone_curve_and_bad_knobs():
    with pytest.raises(ConfigError, match="unknown tone curve"):
        tone_curve("vivid")
    with pytest.raises(ConfigError, match="gammaG"):
        tone_curve("gamma9")
    with pytest.raises(ConfigError, match="jpeg_quality"):
        CameraConfig(jpeg_quality=(90, 10))
    with pytest.raises(ConfigError, match="vignetting"):
        CameraConfig(vignetting=1.5)


def test_identity_camera_draws_nothing():
    rng = np.random.default_rng(4)
    state = rng.bit_generator.state
    cam = CameraConfig().draw(rng)
    assert rng.bit_generator.state == state and cam.noise is None and cam.jpeg_quality is None


def test_poisson_gaussian_noise_has_the_stated_variance():
    a, b = 2e-3, 1e-4
    for level in (0.1, 0.6):
        lin = torch.full((3, 200, 200), level)
        noisy = add_noise(lin, (a, b), np.random.default_rng(0))
        assert abs(float((noisy - lin).var()) / (a * level + b) - 1) < 0.03


def test_vignetting_falls_off_to_the_corners():
    g = vignette_gain(5, 7, 0.4)[0]
    assert abs(float(g[2, 3]) - 1) < 1e-6 and abs(float(g[0, 0]) - 0.6) < 1e-6
    assert float(g[2, 0]) == pytest.approx(0.8, abs=1e-6)


def test_jpeg_round_trip_quantises_to_8_bit():
    img = torch.rand(3, 32, 48, generator=torch.Generator().manual_seed(0))
    out = jpeg_round_trip(img, 95)
    assert out.shape == img.shape
    np.testing.assert_allclose((out.numpy() * 255) % 1, 0, atol=1e-4)
    assert float((jpeg_round_trip(img, 10) - img).abs().mean()) > float((out - img).abs().mean())
