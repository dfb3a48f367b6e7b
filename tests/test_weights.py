"""blurmap.weights: safetensors files that carry the model name and config."""

import json
import pickle

import pytest
import torch

from blurmap import __version__
from blurmap.errors import WeightsError
from blurmap.models import build_model
from blurmap.weights import load_network, load_weights, read_metadata, save_weights


def test_round_trip_restores_weights_and_metadata(tmp_path):
    model = build_model("tiny_unet", channels=4)
    path = save_weights(tmp_path / "sub" / "w.safetensors", model, "tiny_unet", {"channels": 4}, extra={"step": 7})
    state, meta = load_weights(path, expected_name="tiny_unet")
    assert meta["name"] == "tiny_unet" and meta["config"] == {"channels": 4}
    assert meta["blurmap_version"] == __version__ and meta["extra"] == {"step": 7}
    ref = model.state_dict()
    assert state.keys() == ref.keys() and all(torch.equal(state[k], ref[k]) for k in ref)
    # the header is plain safetensors JSON: the metadata is readable by any tool
    head_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + head_len])
    assert header["__metadata__"]["blurmap.model"] == "tiny_unet"
    rebuilt = load_network(path)
    x = torch.rand(1, 3, 9, 11)
    assert not rebuilt.training
    torch.testing.assert_close(rebuilt(x), model.eval()(x), rtol=0, atol=0)
    assert read_metadata(path)["config"] == {"channels": 4}


def test_refuses_name_mismatch(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 4})
    with pytest.raises(WeightsError) as ei:
        load_weights(path, expected_name="bladenet")
    assert str(ei.value) == f"{path}: holds 'tiny_unet' weights, expected 'bladenet'"
    with pytest.raises(WeightsError, match="expected 'bladenet'"):
        load_network(path, expected_name="bladenet")


def test_refuses_non_safetensors_and_missing_files(tmp_path):
    pkl = tmp_path / "w.pt"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    torch_file = tmp_path / "t.safetensors"
    torch.save({"w": torch.zeros(2)}, torch_file)
    for bad in (pkl, torch_file):
        with pytest.raises(WeightsError) as ei:
            load_weights(bad)
        assert str(ei.value) == f"{bad}: not a safetensors weights file" and "\n" not in str(ei.value)
    with pytest.raises(WeightsError, match="weights file not found"):
        load_weights(tmp_path / "absent.safetensors")
    good = save_weights(tmp_path / "g.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 4})
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"cut.safetensors: .*(truncated|not a safetensors)"):
        load_weights(cut)


def test_refuses_weights_that_do_not_fit(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 8})
    with pytest.raises(WeightsError, match="do not fit model 'tiny_unet'"):
        load_network(path)
    with pytest.raises(WeightsError, match="JSON-serialisable"):
        save_weights(tmp_path / "x.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"f": object()})
    assert not (tmp_path / "x.safetensors").exists()
