"""The training engine end to end on the tiny recipe: training, exact resume after a real
kill, corrupt-checkpoint fallback, phases with frozen models, and a 2-process DDP run."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from blurmap.errors import ConfigError
from blurmap.models import build_model
from blurmap.train.checkpoint import CheckpointWarning, list_checkpoints, verify_checkpoint
from blurmap.train.config import load_config
from blurmap.train.engine import train
from blurmap.train.recipe import ModelSpec, Phase, Recipe, RecipeConfig, register_recipe
from blurmap.train.recipes.tiny import GaussianBlurPairs, TinyRecipe
from blurmap.train.sampling import seed_everything
from blurmap.weights import load_network, load_weights

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny_unet.yaml"
PY = Path(sys.executable)
# Two phases (warm-up + main), gradient accumulation, EMA and clipping: resume must be exact
# through all of them. 5 + 4 epochs x 8 steps = 37 optimizer steps of 2 micro-batches.
FEATURES = ["epochs=4", "warmup_iters=5", "image_size=48", "train.crop_size=32", "train.batch_size=4",
            "train.accum_steps=2", "train.ema_decay=0.9", "train.grad_clip=0.5", "train.log_every=4",
            "train.val_every=0", "train.checkpoint_every=5", "train.keep_checkpoints=2", "train.progress=none"]
TOTAL = 37


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """This process trains on one thread, as the child runs of the kill test do (OMP_NUM_THREADS=1):
    float reductions depend on the thread count, and the resume test compares runs bit for bit."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with FEATURES."""
    out = tmp_path_factory.mktemp("ref")
    return train(load_config(TINY, FEATURES), out=out)


def test_tiny_recipe_trains_and_exports(reference):
    r = reference
    assert r.step == r.total_steps == TOTAL and r.resumed_from is None
    losses = [h["loss/loss"] for _, h in r.history]
    assert len(losses) == 10  # every 4 steps + the last
    assert max(losses[-3:]) < losses[0]
    # on the held-out photo the trained net is far better than the same net at initialisation
    lc = load_config(TINY, FEATURES)
    val = TinyRecipe(lc.cfg).build_val_datasets()["val"]
    seed_everything(lc.cfg.train.seed)  # the engine's init
    untrained = build_model("tiny_unet", channels=lc.cfg.channels).eval()
    with torch.no_grad():
        initial_l1 = sum(float(F.l1_loss(untrained(s["blur"][None]).clamp(0, 1)[0], s["sharp"])) for s in val) / len(val)
    assert r.val_metrics["l1"] < 0.5 * initial_l1
    assert {"psnr", "ssim", "l1"} <= set(r.val_metrics)
    # run directory: resolved config, logs, TensorBoard events, keep-last-2 checkpoints, weights
    run = r.run_dir
    assert "accum_steps: 2" in (run / "config.yaml").read_text()
    log = (run / "train.log").read_text()
    assert f"step {TOTAL}/{TOTAL}" in log and "val/psnr" in log
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert [p.name for p in list_checkpoints(run)] == ["step_00000035.pt", f"step_{TOTAL:08d}.pt"]
    model = load_network(r.final_weights["net"], expected_name="tiny_unet")
    _, meta = load_weights(r.final_weights["net"])
    assert meta["extra"]["ema"] is True and meta["extra"]["step"] == TOTAL
    assert model(torch.rand(1, 3, 17, 23)).shape == (1, 3, 17, 23)


def test_killed_run_resumes_bit_exactly(reference, tmp_path):
    out = tmp_path / "killed"
    log = open(tmp_path / "child.log", "wb")
    proc = subprocess.Popen([str(PY), "-m", "blurmap", "train", str(TINY), *FEATURES, "--out", str(out)],
                            stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=tmp_path)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if any(verify_checkpoint(p) is None for p in list_checkpoints(out)):
                    break
            except OSError:  # the child pruned an old checkpoint while we read it
                pass
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "child.log").read_text()
    assert not (out / "final").exists()  # it really died mid-run
    killed_at = [int(p.stem.split("_")[1]) for p in list_checkpoints(out)]

    resumed = train(load_config(TINY, FEATURES), out=out)
    assert resumed.resumed_from is not None and int(resumed.resumed_from.stem.split("_")[1]) == max(killed_at) < TOTAL
    assert resumed.step == TOTAL
    # EMA weights (exported) and raw weights (last checkpoint) equal the uninterrupted run's
    mine, _ = load_weights(resumed.final_weights["net"])
    ref, _ = load_weights(reference.final_weights["net"])
    assert _same_tensors(mine, ref)
    a = torch.load(list_checkpoints(out)[-1], weights_only=True)
    b = torch.load(list_checkpoints(reference.run_dir)[-1], weights_only=True)
    assert _same_tensors(a["models"]["net"], b["models"]["net"])
    assert a["optimizers"]["net"]["state"][0]["exp_avg"].equal(b["optimizers"]["net"]["state"][0]["exp_avg"])


def test_init_from_loads_weights_and_refuses_other_models(reference, tmp_path):
    from blurmap.errors import WeightsError
    from blurmap.weights import save_weights

    src = reference.final_weights["net"]
    # lr 0: Adam leaves the parameters where they start, so the exported weights are the loaded ones
    run = ["epochs=0.125", "image_size=48", "train.crop_size=32", "train.progress=none", "lr=0",
           f"train.init_from.net={src}"]
    res = train(load_config(TINY, run), out=tmp_path / "ft")
    loaded, _ = load_weights(res.final_weights["net"])
    assert _same_tensors(loaded, load_weights(src)[0])
    with pytest.raises(ConfigError, match="no model 'generator'"):
        train(load_config(TINY, run[:-1] + [f"train.init_from.generator={src}"]), out=tmp_path / "a")
    other = save_weights(tmp_path / "w4.safetensors", build_model("tiny_unet", channels=4), "tiny_unet", {"channels": 4})
    with pytest.raises(WeightsError, match="w4.safetensors: built with config"):
        train(load_config(TINY, run[:-1] + [f"train.init_from.net={other}"]), out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b" / "final").exists()


def test_truncated_checkpoint_falls_back_with_warning(tmp_path):
    small = ["epochs=1", "image_size=48", "train.crop_size=32", "train.checkpoint_every=4",
             "train.keep_checkpoints=3", "train.progress=none"]
    first = train(load_config(TINY, small), out=tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000008.pt", "step_00000012.pt", "step_00000016.pt"]
    done, _ = load_weights(first.final_weights["net"])
    latest = list_checkpoints(tmp_path)[-1]
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    with pytest.warns(CheckpointWarning, match=r"step_00000016\.pt is unusable: checksum mismatch"):
        again = train(load_config(TINY, small), out=tmp_path)
    assert again.resumed_from.name == "step_00000012.pt"
    assert "step_00000016.pt is unusable" in (tmp_path / "train.log").read_text()
    redone, _ = load_weights(again.final_weights["net"])
    assert _same_tensors(done, redone)  # steps 12..16 were redone identically
    with pytest.raises(ConfigError, match="already has checkpoints"):
        train(load_config(TINY, small), out=tmp_path, resume=False)


# --- phases: freezing, alternation, manual optimisation with two optimizers ---------------------


@dataclass
class _AltConfig(RecipeConfig):
    lr: float = 1e-2


@register_recipe("_test_alternating")
class _AltRecipe(Recipe):
    Config = _AltConfig
    seen: list = []

    def build_models(self):
        return {"f": ModelSpec("tiny_unet", {"channels": 4}), "g": ModelSpec("tiny_unet", {"channels": 4})}

    def build_optimizers(self, models):
        return {n: torch.optim.SGD(m.parameters(), lr=self.cfg.lr) for n, m in models.items()}

    def build_datasets(self):
        photos = [torch.rand(3, 16, 16) for _ in range(2)]
        return {"train": GaussianBlurPairs(photos, 8), "other": GaussianBlurPairs(photos, 4)}

    def phases(self):
        return [Phase("f_only", iters=2, train=("f",)),
                Phase("alt", cycles=2, alternate=(Phase("g", iters=1, train=("g",), losses=("extra",), data="other"),
                                                   Phase("f", iters=2, train=("f.dec",))))]

    def step(self, batch, ctx):
        snap = {n: [p.detach().clone() for p in ctx.unwrap(n).parameters()] for n in ("f", "g")}
        trains = {n: any(p.requires_grad for p in ctx.unwrap(n).parameters()) for n in ("f", "g")}
        self.seen.append((ctx.step, ctx.phase_name, trains, ctx.unwrap("g").training, snap, ctx.phase_progress))
        loss = F.l1_loss(ctx.models["g"](ctx.models["f"](batch["blur"])), batch["sharp"])
        ctx.backward(loss)
        for n in ("f", "g"):
            if trains[n]:
                assert ctx.optimizer_step(n)
        return {"loss": loss, "extra_on": float(ctx.loss_on("extra"))}


def test_phases_freeze_and_alternate(tmp_path):
    _AltRecipe.seen = []
    lc = load_config(None, data={"recipe": "_test_alternating", "train": {"batch_size": 2, "progress": "none",
                                                                        "log_every": 1, "crop_size": 8}})
    res = train(lc, out=tmp_path)
    seen = _AltRecipe.seen
    assert [(s, name) for s, name, *_ in seen] == [(0, "f_only"), (1, "f_only"), (2, "alt/g"), (3, "alt/f"),
                                                   (4, "alt/f"), (5, "alt/g"), (6, "alt/f"), (7, "alt/f")]
    assert [t for _, _, t, *_ in seen][:3] == [{"f": True, "g": False}, {"f": True, "g": False}, {"f": False, "g": True}]
    assert seen[0][3] is False and seen[2][3] is True  # a model with nothing to train is in eval mode
    assert [round(p, 3) for *_, p in seen[2:5]] == [0.0, 0.167, 0.333]  # progress inside "alt" (6 steps)
    # parameters change only while their phase trains them ("f.dec" = a sub-module of f)
    final = {n: [p.detach() for p in m.parameters()] for n, m in
             (("f", load_network(res.final_weights["f"])), ("g", load_network(res.final_weights["g"])))}
    after = [s[4] for s in seen[1:]] + [final]

    def changed(i, name, sub=None):
        before_p, after_p = seen[i][4][name], after[i][name]
        keys = [k for k, _ in load_network(res.final_weights[name]).named_parameters()]
        return {k for k, b, a in zip(keys, before_p, after_p) if not torch.equal(b, a)}

    assert changed(0, "g") == set() and changed(0, "f")
    assert changed(2, "f") == set() and changed(2, "g")
    assert changed(3, "g") == set() and changed(3, "f") and all(k.startswith("dec.") for k in changed(3, "f"))
    logged = dict(res.history)
    assert logged[3]["loss/extra_on"] == 1.0 and logged[4]["loss/extra_on"] == 0.0


def test_two_process_ddp_run(tmp_path):
    """2-process gloo DDP via torchrun: the tiny recipe (CLI) and a multi-model phased recipe."""
    torchrun = PY.parent / "torchrun"
    out, out_gan = tmp_path / "ddp", tmp_path / "gan"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(REPO / "tests" / "_train_ddp_worker.py"),
           str(TINY), str(out), str(out_gan)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    log = (out / "train.log").read_text()
    assert "2 process(es)" in log
    # global batch 2 x 4 = 8 -> 64 // 8 = 8 steps; one writer: every checkpoint once, no leftovers
    assert log.count("starting;") == 1 and log.count("step 8/8 phase main loss") == 1
    assert [p.name for p in list_checkpoints(out)] == ["step_00000004.pt", "step_00000006.pt", "step_00000008.pt"]
    assert all(verify_checkpoint(p) is None for p in list_checkpoints(out))
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".")) == []
    assert load_network(out / "final" / "net.safetensors")(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)
    gan_log = (out_gan / "train.log").read_text()
    phases = [line.split(" phase ")[1].split()[0] for line in gan_log.splitlines() if " loss/g " in line]
    assert phases == ["warm", "warm", "alt/a", "alt/b", "alt/a", "alt/b", "joint", "joint"]
    assert sorted(p.name for p in (out_gan / "final").iterdir()) == ["D.safetensors", "G.safetensors", "k.safetensors"]


def test_bf16_channels_last_run_and_export(reference, tmp_path):
    from blurmap.train.export import export_weights

    res = train(load_config(TINY, ["epochs=0.125", "image_size=32", "train.crop_size=32", "train.progress=none",
                                   "train.mixed_precision=bf16", "train.channels_last=true"]), out=tmp_path)
    assert res.step == 2
    state, _ = load_weights(res.final_weights["net"])
    assert all(v.dtype == torch.float32 for v in state.values())  # master weights stay fp32
    # export from a run directory reproduces the final (EMA) weights; from a checkpoint file too
    (path,) = export_weights(reference.run_dir, tmp_path / "exp.safetensors")
    ref, _ = load_weights(reference.final_weights["net"])
    assert _same_tensors(load_weights(path)[0], ref)
    (path2,) = export_weights(list_checkpoints(reference.run_dir)[-1], tmp_path / "exp_dir")
    assert path2.name == "net.safetensors" and _same_tensors(load_weights(path2)[0], ref)


def test_max_minutes_stops_exports_and_the_rerun_continues_exactly(reference, tmp_path):
    out = tmp_path / "budget"
    # a budget spent after the first step: the run stops there, checkpoints and exports
    short = train(load_config(TINY, FEATURES + ["train.max_minutes=1e-9"]), out=out)
    assert short.step == 1 < TOTAL
    assert [int(p.stem.split("_")[1]) for p in list_checkpoints(out)] == [1]
    assert short.final_weights["net"].is_file()
    # the same command without the budget continues from step 1 to the uninterrupted run's weights
    with pytest.warns(UserWarning, match="config differs"):
        rest = train(load_config(TINY, FEATURES), out=out)
    assert int(rest.resumed_from.stem.split("_")[1]) == 1 and rest.step == TOTAL
    assert _same_tensors(load_weights(rest.final_weights["net"])[0], load_weights(reference.final_weights["net"])[0])
