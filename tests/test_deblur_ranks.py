"""``blurmap deblur`` split over processes: torchrun / accelerate launch, each file exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from blurmap.cli import main
from blurmap.errors import BlurmapError
from blurmap.io import read_image, write_image
from blurmap.models import build_model
from blurmap.ranks import Ranks
from blurmap.weights import save_weights

SRC = Path(__file__).resolve().parents[1] / "src"


# --------------------------------------------------------------------------------- Ranks


def test_from_env_outside_a_launcher_is_one_process():
    r = Ranks.from_env({})
    assert (r.rank, r.world_size, r.local_rank, r.distributed, r.is_main) == (0, 1, 0, False, True)
    assert r.gather_counts([3, 1]) == [[3, 1]]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [0, 1, 6, 7, 13])
def test_shards_cover_every_item_exactly_once(world, n):
    items = [f"f{i}" for i in range(n)]
    shards = [Ranks(rank=r, world_size=world).shard(items) for r in range(world)]
    assert sorted(x for s in shards for x in s) == sorted(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("env,message", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 and WORLD_SIZE=2"),
    ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK=-1"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "-3"}, "LOCAL_RANK=-3"),
])
def test_bad_launcher_variables_are_one_line(env, message):
    with pytest.raises(BlurmapError, match=message):
        Ranks.from_env(env)


def test_each_process_takes_its_local_gpu():
    r = Ranks.from_env({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"})  # second node, second GPU
    assert r.device("cpu") == "cpu" and r.device("cuda:0") == "cuda:0"
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert r.device("cuda") == f"cuda:{1 % gpus if gpus else 1}"
    assert r.device("auto") == (f"cuda:{1 % gpus}" if gpus else "cpu")


def test_more_processes_than_gpus_share_them(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [Ranks(rank=i, world_size=5, local_rank=i).device() for i in range(5)] == [
        "cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]


def test_gather_without_a_rendezvous_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(BlurmapError, match="MASTER_ADDR and MASTER_PORT not set"):
        Ranks(rank=0, world_size=2).gather_counts([1, 0])


# ------------------------------------------------------------------ launched processes


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Six photos, tiny BladeNet weights, and the single-process outputs to compare with."""
    root = tmp_path_factory.mktemp("ranks")
    torch.manual_seed(0)
    weights = root / "blade_tiny.safetensors"
    config = {"width": 4, "bottleneck_mult": 2}
    save_weights(weights, build_model("bladenet", **config), "bladenet", config)
    src = root / "in"
    src.mkdir()
    photo = data.astronaut()[100:140, 150:196] / 255.0
    for i in range(6):
        write_image(src / f"p{i}.png", np.roll(photo, 3 * i, axis=1), bits=8 if i % 2 else 16)
    reference = root / "reference"
    assert main(["deblur", str(src), "-o", str(reference), "--weights", str(weights)]) == 0
    return root, src, weights, reference


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(launcher: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run([sys.executable, *launcher, "-m", "blurmap", "deblur", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _same_outputs(out: Path, reference: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for p in reference.iterdir():
        a, b = read_image(out / p.name), read_image(p)
        assert a.bits == b.bits and np.array_equal(a.array, b.array), p.name


def test_torchrun_two_processes_write_each_output_once(batch):
    root, src, weights, reference = batch
    out = root / "torchrun"
    run = _launch(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
                  [str(src), "-o", str(out), "--weights", str(weights), "--device", "cpu"], root)
    assert run.returncode == 0, run.stderr
    # Rank 0 alone prints the summary; the two shards add up to the six files.
    assert run.stdout.splitlines() == [f"deblurred 6 of 6 input(s) with bladenet into {out} (2 processes: 3 + 3)"]
    assert "blurmap: error" not in run.stderr
    _same_outputs(out, reference)


def test_accelerate_launch_failure_on_one_rank_fails_the_job(batch):
    """Bad files in rank 1's share only: each error once, the summary once (rank 0, which had
    nothing to complain about), and the job fails."""
    root, src, weights, reference = batch
    bad = root / "with_bad"
    bad.mkdir()
    names = ["p0.png", "p1.png", "p2.png", "p3.png", "p4.png", "p5.png"]
    for name in names:
        (bad / name).write_bytes((src / name).read_bytes())
    # Sorted: p0, p0a, p1, p1b, p2, ...: the bad files are inputs 1 and 3, both rank 1's.
    (bad / "p0a.png").write_text("")
    (bad / "p1b.png").write_text("not an image\n")
    out = root / "accelerate"
    run = _launch(["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port())],
                  [str(bad), "-o", str(out), "--weights", str(weights), "--device", "cpu"], root)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("blurmap: error:")]
    assert sorted(errors) == [f"blurmap: error: {bad / 'p0a.png'}: empty file (0 bytes)",
                              f"blurmap: error: {bad / 'p1b.png'}: not an image (unrecognised file format)"]
    summaries = [line for line in run.stderr.splitlines() if line.startswith("deblurred")]
    assert summaries == [f"deblurred 6 of 8 input(s) with bladenet into {out} (2 processes: 4 + 2); 2 failed"]
    _same_outputs(out, reference)
