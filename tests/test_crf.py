import numpy as np
import torch

from blurmap.physics.crf import CRF, apply_table, linear_to_srgb, srgb_to_linear


def test_gamma_matches_numpy_and_round_trips():
    x = torch.rand(2, 3, 8, 9, dtype=torch.float64)
    lin = srgb_to_linear(x)
    np.testing.assert_allclose(lin.numpy(), x.numpy() ** 2.2, rtol=0, atol=1e-12)
    assert torch.allclose(linear_to_srgb(lin), x, atol=1e-6)


def test_gamma_gradient_finite_at_zero():
    x = torch.tensor([0.0, 1e-9, 0.5], requires_grad=True)
    linear_to_srgb(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_table_crf_round_trip_and_matches_np_interp():
    n = 256
    g = np.linspace(0, 1, n)
    table = np.stack([g**2.0, g**2.2, g**2.4], axis=1)
    x = torch.rand(1, 3, 5, 7, dtype=torch.float64)
    lin = apply_table(x, torch.from_numpy(table))
    for c in range(3):
        np.testing.assert_allclose(lin[0, c].numpy(), np.interp(x[0, c].numpy(), g, table[:, c]), atol=1e-12)
    crf = CRF(table=torch.from_numpy(table))
    assert torch.allclose(crf.to_encoded(crf.to_linear(x.float())), x.float(), atol=1e-6)


def test_table_must_increase():
    import pytest

    with pytest.raises(ValueError):
        CRF(table=torch.zeros(256, 3))
