"""The ``bladenet`` training recipe: schedules of the variants, losses per phase, one tiny run."""

from types import SimpleNamespace

import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.losses.segmentation import bce_loss, dice_loss
from blurmap.train.config import load_config


def _recipe(path, *overrides):
    lc = load_config(path, list(overrides))
    return lc.recipe_cls(lc.cfg)


def test_paper_schedule():
    r = _recipe("configs/bladenet_reds_voc.yaml")
    lbp, alt, joint = r.phases()
    assert (lbp.name, lbp.epochs, lbp.train, lbp.data, lbp.losses) == ("lbp", 100, ("net.lbp",), "lbs", ("bce",))
    assert alt.cycles == 200 and [p.data for p in alt.alternate] == ["reds", "lbs"]
    assert [p.epochs for p in alt.alternate] == [0.5, 0.5]
    assert alt.alternate[0].train == ("net.main",) and alt.alternate[0].losses == ("mse",)
    assert alt.alternate[1].losses == ("mse", "dice", "bce")
    # the final 100 epochs use "the same alternating strategy", the whole network trains
    assert joint.cycles == 100 and [p.data for p in joint.alternate] == ["reds", "lbs"]
    assert [p.train for p in joint.alternate] == [None, None]
    assert joint.alternate[0].losses == ("mse",) and joint.alternate[1].losses == ("mse", "dice", "bce")
    mixed = _recipe("configs/bladenet_reds_voc.yaml", "joint_mode=mixed").phases()[2]
    assert mixed.epochs == 100 and mixed.data == ("reds", "lbs")
    assert (r.cfg.w_mse, r.cfg.w_dice, r.cfg.w_bce, r.cfg.lr) == (1.0, 0.25, 0.01, 1e-3)
    # lr halved every 100 of the 400 epochs
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = r.build_schedulers({"net": opt}, total_steps=4000)["net"]
    assert sched.step_size == 1000 and sched.gamma == 0.5


def test_variant_schedules():
    minus = _recipe("configs/bladenet_minus_reds.yaml")
    (main,) = minus.phases()
    assert main.data == "reds" and main.losses == ("mse",)
    assert minus.model_kwargs()["use_lbp"] is False and minus.model_kwargs()["use_bsa"] is False
    cpu = _recipe("configs/bladenet_cpu.yaml")
    assert [p.name for p in cpu.phases()] == ["lbp", "main"] and cpu.phases()[1].data == "lbs"
    plus = _recipe("configs/bladenet_plus_lode.yaml")
    assert [p.name for p in plus.phases()] == ["finetune"]
    with pytest.raises(ConfigError, match="empty schedule"):
        _recipe("configs/bladenet_cpu.yaml", "lbp_epochs=0", "alt_epochs=0", "joint_epochs=0").phases()


def _ctx(net, phase):
    return SimpleNamespace(
        models={"net": net}, phase=phase, unwrap=lambda name: net,
        loss_on=lambda name: name in phase.losses,
    )


def _sample(b=2, s=32):
    mask = torch.zeros(b, 1, s, s)
    mask[:, :, 8:20, 8:24] = 1
    return {"blur": torch.rand(b, 3, s, s), "sharp": torch.rand(b, 3, s, s), "mask": mask}


def test_step_losses_follow_the_phase():
    r = _recipe("configs/bladenet_cpu.yaml", "width=4", "bottleneck_mult=2")
    from blurmap.models import build_model

    net = build_model("bladenet", **r.model_kwargs())
    calls = []  # a DDP wrapper only syncs gradients of passes made through the module's __call__
    net.register_forward_pre_hook(lambda module, args: calls.append(1))
    batch = _sample()
    lbp_phase, main_phase = r.phases()
    out = r.step(batch, _ctx(net, lbp_phase))
    assert len(calls) == 1
    assert set(out) == {"loss", "bce"}
    assert out["loss"].item() == pytest.approx(bce_loss(net.lbp(batch["blur"]), batch["mask"]).item(), rel=1e-5)

    out = r.step(batch, _ctx(net, main_phase))
    assert len(calls) == 2
    f = net.forward_train(batch["blur"])
    mse = torch.nn.functional.mse_loss(f["image"], batch["sharp"])
    expected = mse + 0.25 * dice_loss(f["attention"], batch["mask"]) + 0.01 * bce_loss(f["lbp_logits"], batch["mask"])
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-4)

    reds = _recipe("configs/bladenet_reds_voc.yaml", "width=4", "bottleneck_mult=2", "joint_mode=mixed")
    real = reds.phases()[1].alternate[0]
    out = reds.step({k: batch[k] for k in ("blur", "sharp")}, _ctx(net, real))
    assert set(out) == {"loss", "mse"}
    joint = reds.phases()[2]
    out = reds.step({"reds": {k: batch[k] for k in ("blur", "sharp")}, "lbs": batch}, _ctx(net, joint))
    assert {"reds_mse", "lbs_mse", "lbs_dice", "lbs_bce", "loss"} <= set(out)


def test_tiny_training_run_exports_loadable_weights(tmp_path):
    from blurmap.train.engine import train
    from blurmap.weights import load_network

    lc = load_config("configs/bladenet_cpu.yaml", [
        "width=4", "bottleneck_mult=2", "lbs_length=8", "lbp_epochs=1", "alt_epochs=1",
        "val_count=0", "train.crop_size=32", "train.progress=none",
        f"out={tmp_path}",
    ])
    train(lc)
    net = load_network(tmp_path / "final" / "net.safetensors")
    assert net.use_lbp and net.use_bsa and net.config["width"] == 4
    assert net(torch.rand(1, 3, 20, 28)).shape == (1, 3, 20, 28)


def test_lbs_motion_overrides():
    r = _recipe("configs/bladenet_starter.yaml")
    m = r.lbs_config().motion
    assert m.speed == (0.004, 0.015) and m.spin == (-1.0, 1.0) and m.zoom == (-0.01, 0.01)
    default = _recipe("configs/bladenet_reds_voc.yaml").lbs_config().motion
    from blurmap.physics.motion import MotionRanges

    assert default == MotionRanges()
    with pytest.raises(ConfigError, match="lbs_speed"):
        _recipe("configs/bladenet_cpu.yaml", "lbs_speed_min=0.05", "lbs_speed_max=0.01").lbs_config()


def test_bad_joint_mode_and_bsa_epochs_are_config_errors():
    with pytest.raises(ConfigError, match="joint_mode"):
        _recipe("configs/bladenet_reds_voc.yaml", "joint_mode=both").phases()
    with pytest.raises(ConfigError, match="bsa_epochs"):
        _recipe("configs/bladenet_lbp_only_reds_voc.yaml", "bsa_epochs=5").phases()


def test_bsa_stage_trains_only_the_bsa_convs_on_bce():
    r = _recipe("configs/bladenet_reds_voc.yaml", "width=4", "bottleneck_mult=2", "alt_epochs=100",
                "bsa_epochs=100")
    names = [p.name for p in r.phases()]
    assert names == ["lbp", "alt", "bsa", "joint"]  # the supplementary's four 100-epoch stages
    bsa = r.phases()[2]
    assert (bsa.epochs, bsa.data, bsa.train) == (100, "lbs", r.BSA_MODULES)
    from blurmap.models import build_model

    net = build_model("bladenet", **r.model_kwargs())
    for path in r.BSA_MODULES:  # each names a real sub-module with weights
        assert sum(p.numel() for p in net.get_submodule(path.split(".", 1)[1]).parameters()) > 0
    batch = _sample()
    out = r.step(batch, _ctx(net, bsa))
    prob = (net.forward_train(batch["blur"])["attention"] / 3).clamp(1e-6, 1 - 1e-6)
    mask = batch["mask"]
    expected = -(mask * prob.log() + (1 - mask) * (1 - prob).log()).mean()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.fixture
def reds_tiny(tmp_path):
    """REDS layout: 2 clips of 2 frames, 40x48."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for clip in ("000", "001"):
        for k in range(2):
            for kind in ("sharp", "blur"):
                path = tmp_path / "train" / f"train_{kind}" / clip / f"{k:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return tmp_path


@pytest.mark.parametrize("config, extra", [
    ("configs/bladenet_plain_reds_voc.yaml", []),
    ("configs/bladenet_reds_voc.yaml", ["lbp_epochs=1", "bsa_epochs=1"]),
])
def test_reds_voc_configs_run_through_the_engine(config, extra, reds_tiny, tmp_path):
    from blurmap.train.engine import train

    lc = load_config(config, [
        "width=4", "bottleneck_mult=2", f"reds_root={reds_tiny}", f"lbs_backgrounds={reds_tiny}",
        "lbs_objects=bundled", "lbs_length=4", "alt_epochs=1", "joint_epochs=1", "val_count=0",
        "train.batch_size=2", "train.crop_size=32", "train.num_workers=0", "train.mixed_precision=no",
        "train.progress=none", "train.log_every=1", f"out={tmp_path / 'run'}", *extra,
    ])
    res = train(lc, out=tmp_path / "run", resume=False)
    assert res.step == res.total_steps > 0
    assert (tmp_path / "run" / "final" / "net.safetensors").is_file()
    logged = set().union(*(set(d) for _, d in res.history))
    if "bsa_epochs=1" in extra:
        assert "loss/bce_bsa" in logged  # the BSA stage ran
