"""`blurmap eval --weights` takes shipped names; every task loads and counts parameters one way."""

import json

import numpy as np
import pytest
from torch import nn

from blurmap.cli import main
from blurmap.io import write_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dpdd(tmp_path_factory):
    """One 16-bit test pair in the DPDD layout."""
    root = tmp_path_factory.mktemp("dpdd_names")
    for d in ("test_c/source", "test_c/target"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(5)
    sharp = rng.random((32, 48, 3)).astype(np.float32)
    write_image(root / "test_c/source/1P0A3000.png", sharp * 0.5 + 0.25, bits=16)
    write_image(root / "test_c/target/1P0A3001.png", sharp, bits=16)
    return root


def test_eval_accepts_the_shipped_name_defocus(dpdd, tmp_path, capsys):
    from blurmap import weights_data
    from blurmap.models import count_parameters
    from blurmap.weights import load_network as load_model

    shipped = weights_data.resolve("defocus")
    if shipped is None:
        pytest.skip("no shipped defocus weights in this install")
    out = tmp_path / "o"
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", "defocus", "--lpips", "none",
                 "-o", str(out)]) == 0
    report = json.loads((out / "eval_defocus.json").read_text())
    assert report["model"] == "defocusgan"
    assert report["params"] == count_parameters(load_model(shipped))
    assert "defocusgan" in capsys.readouterr().out


def test_eval_refuses_a_map_network_by_name_in_one_line(dpdd, capsys):
    from blurmap import weights_data

    if weights_data.resolve("defocus-map") is None:
        pytest.skip("no shipped defocus-map weights in this install")
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", "defocus-map"]) == 1
    err = capsys.readouterr().err.strip()
    assert "defocus maps" in err and len(err.splitlines()) == 1


def test_eval_unknown_name_is_one_line(dpdd, capsys):
    assert main(["eval", "--task", "defocus", "--data", str(dpdd), "--weights", "no-such-model"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no-such-model" in err and len(err.splitlines()) == 1


def test_count_parameters_counts_frozen_parameters_too():
    from blurmap.eval.runner import count_parameters as runner_count
    from blurmap.models import count_parameters

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1, bias=False))
    for p in net[0].parameters():
        p.requires_grad_(False)
    expected = 3 * 4 * 9 + 4 + 4 * 2  # conv weights + bias, then the 1x1 weights
    assert count_parameters(net) == expected
    assert runner_count is count_parameters
    assert count_parameters(nn.Identity()) == 0
