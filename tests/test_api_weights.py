"""``blurmap weights list`` / ``info``: what is shipped, what a file holds."""

from __future__ import annotations

import hashlib
import json

import torch

from blurmap.cli import main
from blurmap.models import build_model
from blurmap.weights import save_weights


def test_weights_list_and_info(tmp_path, monkeypatch, capsys):
    import blurmap.weights_data as wd

    monkeypatch.setattr(wd, "WEIGHTS_DIR", tmp_path)
    model = build_model("tiny_unet", channels=4)
    path = save_weights(tmp_path / "bladenet_starter.safetensors", model, "tiny_unet", {"channels": 4},
                        extra={"step": 7, "psnr_gain_db": 1.5})
    (tmp_path / "junk.safetensors").write_bytes(b"not weights at all")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("defocus ") and "NOT SHIPPED" in line for line in lines)
    n_params = sum(p.numel() for p in model.parameters())
    local = next(line for line in lines if line.startswith("local "))
    assert f"{n_params:,}" in local and hashlib.sha256(path.read_bytes()).hexdigest()[:12] in local
    assert any(line.startswith("junk ") and "unreadable" in line for line in lines)

    assert main(["weights", "info", "local", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "tiny_unet" and info["config"] == {"channels": 4}
    assert info["parameters"] == n_params and info["bytes"] == path.stat().st_size
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["extra"] == {"step": 7, "psnr_gain_db": 1.5}
    assert main(["weights", "info", str(path)]) == 0
    assert "model:      tiny_unet" in capsys.readouterr().out


def test_weights_info_refuses_non_safetensors(tmp_path, capsys):
    bad = tmp_path / "w.pt"
    torch.save({"a": torch.zeros(1)}, bad)
    assert main(["weights", "info", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert "not a safetensors" in err and len(err.splitlines()) == 1
