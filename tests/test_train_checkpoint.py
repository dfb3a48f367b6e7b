"""Checkpoint files: atomic write + sha256 sidecar, keep-last-K, fallback past bad files."""

import hashlib

import pytest
import torch

from blurmap.train.checkpoint import (
    CheckpointWarning,
    list_checkpoints,
    load_latest_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)


def test_save_keeps_last_k_with_matching_sidecars(tmp_path):
    for step in (3, 10, 7, 12):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((2,), float(step))}, keep=2)
    files = list_checkpoints(tmp_path)
    assert [p.name for p in files] == ["step_00000010.pt", "step_00000012.pt"]  # by step, not by write order
    for p in files:
        side = p.with_name(p.name + ".sha256").read_text().strip()
        assert side == hashlib.sha256(p.read_bytes()).hexdigest() and verify_checkpoint(p) is None
    assert sorted(x.name for x in (tmp_path / "checkpoints").iterdir()) == [
        "step_00000010.pt", "step_00000010.pt.sha256", "step_00000012.pt", "step_00000012.pt.sha256"]
    path, state = load_latest_checkpoint(tmp_path)
    assert path == files[-1] and state["step"] == 12 and torch.equal(state["w"], torch.full((2,), 12.0))


def test_fallback_past_corrupt_and_incomplete_checkpoints(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"step": step}, keep=5)
    third, second = list_checkpoints(tmp_path)[2], list_checkpoints(tmp_path)[1]
    data = bytearray(third.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    third.write_bytes(bytes(data))
    second.with_name(second.name + ".sha256").unlink()  # killed between the two renames
    # a leftover temporary file from a killed writer is not a checkpoint
    (tmp_path / "checkpoints" / ".step_00000004.pt.tmp123").write_bytes(b"partial")
    with pytest.warns(CheckpointWarning) as rec:
        path, state = load_latest_checkpoint(tmp_path)
    msgs = [str(w.message) for w in rec]
    assert path.name == "step_00000001.pt" and state["step"] == 1
    assert "step_00000003.pt is unusable: checksum mismatch" in msgs[0]
    assert "step_00000002.pt is unusable: its .sha256 checksum file is missing" in msgs[1]
    assert load_latest_checkpoint(tmp_path / "nothing") == (None, None)
