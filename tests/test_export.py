"""ONNX export: dynamic H and W, onnxruntime matches torch, CLI refuses bad weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from blurmap.cli import main
from blurmap.models import build_model
from blurmap.weights import save_weights

# Tiny configs of each real network kind (multi-scale DefocusGAN with RCAB branches;
# BladeNet with LBP + BSA, which also exports its blur-mask output).
KINDS = {
    "defocusgan": {"dgb_widths": [[4, 8], [4, 8], [4]], "num_units": 4, "branch_units": [0, 2], "coc_bins": [2.0]},
    "bladenet": {"width": 4, "bottleneck_mult": 2},
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_export_matches_torch_on_unseen_sizes(tmp_path, name, capsys):
    torch.manual_seed(0)
    model = build_model(name, **KINDS[name]).eval()
    weights = tmp_path / f"{name}.safetensors"
    save_weights(weights, model, name, KINDS[name])
    out = tmp_path / f"{name}.onnx"
    # The command's own onnxruntime check runs for one kind; the test's check below is independent.
    verify = ["--verify"] if name == "bladenet" else ["--no-verify"]
    assert main(["export", "--weights", str(weights), "--format", "onnx", "-o", str(out), *verify]) == 0
    assert ("onnxruntime vs torch" in capsys.readouterr().out) == (name == "bladenet")
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version >= 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 29, 45)  # a size the export never saw, not a multiple of the model's
    with torch.no_grad():
        ref = model.predict(x)
    got = session.run(None, {"blurred": x.numpy()})
    names = [o.name for o in session.get_outputs()]
    assert names == (["image", "map"] if name == "bladenet" else ["image"])
    for key, value in zip(names, got):
        assert value.shape == tuple(ref[key].shape)
        assert np.abs(value - ref[key].numpy()).max() < 1e-4


def test_export_refuses_bad_inputs(tmp_path, capsys):
    pickle = tmp_path / "w.safetensors"
    torch.save({"a": torch.zeros(1)}, pickle)
    assert main(["export", "--weights", str(pickle), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "not a safetensors" in capsys.readouterr().err
    assert main(["export", "--weights", str(pickle), "--format", "tflite", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "only onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
