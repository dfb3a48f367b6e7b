"""``blurmap defocus-map`` in-process: outputs, weights, and one-line errors without output."""

import numpy as np
import pytest
import torch
from skimage import data

from blurmap.cli import main
from blurmap.io import write_image
from blurmap.models import build_model
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import dp_kernel_stack
from blurmap.weights import save_weights


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("dp")
    img = torch.from_numpy(data.astronaut()[100:164, 150:230].astype(np.float32) / 255).permute(2, 0, 1)[None]
    coc = torch.full((1, 1, 64, 80), -3.0)
    stack = dp_kernel_stack(4)
    for name, view in (("L.png", "left"), ("R.png", "right")):
        write_image(d / name, defocus_blur(img, coc, stack, view)[0].permute(1, 2, 0).clamp(0, 1).numpy(), bits=16)
    write_image(d / "small.png", np.zeros((60, 80, 3), np.float32), bits=8)
    return d


def test_optimize_writes_map_and_png(pair, tmp_path, capsys):
    out, png = tmp_path / "m.npy", tmp_path / "m.png"
    rc = main(["defocus-map", "--left", str(pair / "L.png"), "--right", str(pair / "R.png"), "-o", str(out),
               "--png", str(png), "--optimize", "--steps", "30"])
    assert rc == 0
    m = np.load(out)
    assert m.dtype == np.float32 and m.shape == (64, 80)
    assert abs(float(np.median(m[8:-8, 8:-8])) + 3.0) < 1.0  # a plane in front: about -3 px
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # never overwrite without --overwrite
    rc = main(["defocus-map", "--left", str(pair / "L.png"), "--right", str(pair / "R.png"), "-o", str(out)])
    assert rc == 1 and "already exists" in capsys.readouterr().err


def test_weights_of_the_net(pair, tmp_path):
    net = build_model("defocus_map_net", channels=4, levels=1, blocks=1)
    w = save_weights(tmp_path / "f.safetensors", net, "defocus_map_net", net.init_kwargs)
    out = tmp_path / "m.npy"
    assert main(["defocus-map", "--left", str(pair / "L.png"), "--right", str(pair / "R.png"), "-o", str(out),
                 "--weights", str(w)]) == 0
    np.testing.assert_array_equal(np.load(out), np.zeros((64, 80), np.float32))  # zero-init head


@pytest.mark.parametrize("case", ["sizes", "missing", "other_model", "both", "no_weights", "unknown_name"])
def test_errors_are_one_line_and_leave_no_output(pair, tmp_path, capsys, case):
    out, png = tmp_path / "m.npy", tmp_path / "m.png"
    args = ["defocus-map", "--left", str(pair / "L.png"), "--right", str(pair / "R.png"), "-o", str(out), "--png", str(png)]
    if case == "sizes":
        args[4] = str(pair / "small.png")
    elif case == "missing":
        args[2] = str(pair / "nope.png")
    elif case == "other_model":
        g = build_model("dp_kernel_bank", max_radius=2)
        args += ["--weights", str(save_weights(tmp_path / "g.safetensors", g, "dp_kernel_bank", g.init_kwargs))]
    elif case == "both":
        args += ["--weights", str(tmp_path / "x.safetensors"), "--optimize"]
    elif case == "no_weights":
        args += ["--weights", str(tmp_path / "x.safetensors")]
    else:
        args += ["--weights", "defocus-mapp"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("blurmap: error:") and "\n" not in err
    expected = {"sizes": "small.png", "missing": "nope.png", "other_model": "g.safetensors", "both": "not both",
                "no_weights": "x.safetensors: no such weights file", "unknown_name": "unknown weights 'defocus-mapp'"}[case]
    assert expected in err
    assert not out.exists() and not png.exists()
