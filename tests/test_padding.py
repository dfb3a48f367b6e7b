"""blurmap.models.padding: bottom/right padding against numpy.pad."""

import numpy as np
import torch

from blurmap.models.padding import pad_to_multiple


def test_reflect_padding_matches_numpy():
    x = torch.rand(2, 3, 10, 13, dtype=torch.float64)
    y, size = pad_to_multiple(x, 8)
    assert size == (10, 13) and y.shape[-2:] == (16, 16)
    want = np.pad(x.numpy(), ((0, 0), (0, 0), (0, 6), (0, 3)), mode="reflect")
    np.testing.assert_array_equal(y.numpy(), want)


def test_short_sides_and_forced_mode_replicate_like_numpy_edge():
    x = torch.rand(1, 1, 3, 5, dtype=torch.float64)
    y, _ = pad_to_multiple(x, 8)  # a pad of 5 rows cannot reflect 3 rows
    np.testing.assert_array_equal(y.numpy(), np.pad(x.numpy(), ((0, 0), (0, 0), (0, 5), (0, 3)), mode="edge"))
    z, _ = pad_to_multiple(torch.rand(1, 1, 12, 12, dtype=torch.float64), 8, mode="replicate")
    np.testing.assert_array_equal(z[..., 12:, :].numpy(), np.repeat(z[..., 11:12, :].numpy(), 4, axis=-2))


def test_no_padding_needed_returns_the_input():
    x = torch.rand(1, 3, 16, 32)
    y, size = pad_to_multiple(x, 16)
    assert y is x and size == (16, 32)
