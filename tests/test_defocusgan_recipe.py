"""The `defocusgan` recipe: every paper/ablation config runs a training step; the CPU variant learns."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from blurmap.io import write_image
from blurmap.train.config import load_config
from blurmap.train.engine import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# the DefocusGAN ablations (Tables 4, 6); Table 5's t5_* rows train the defocus-map net (test_table5.py)
ABLATIONS = sorted(p for p in (CONFIGS / "ablations").glob("*.yaml") if not p.name.startswith("t5_"))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dpdd_coc(tmp_path_factory):
    """2 train + 1 val frames (48x64, 16-bit, real naming) with ground-truth coc/*.npy."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("dpdd_coc")
    rng = np.random.default_rng(1)
    for split, n in (("train", 2), ("val", 1)):
        for d in ("_c/source", "_c/target", "_c/coc"):
            (root / f"{split}{d}").mkdir(parents=True)
        for i in range(n):
            sharp = rng.random((48, 64, 3)).astype(np.float32)
            coc = np.tile(np.linspace(-8, 8, 64, dtype=np.float32), (48, 1))
            stem = f"1P0A{100 + 2 * i}"
            write_image(root / f"{split}_c/source/{stem}.png", gaussian_filter(sharp, (1.5, 1.5, 0)), bits=16)
            write_image(root / f"{split}_c/target/1P0A{101 + 2 * i}.png", sharp, bits=16)
            np.save(root / f"{split}_c/coc/{stem}.npy", coc)
    return root


def _shrink(raw: dict, data_root: Path) -> dict:
    """Same structure (scales, levels, branches, losses, critic), tiny widths and data."""
    cfg = dict(raw)
    kw = dict(cfg.get("generator_kwargs") or {})
    if cfg.get("generator", "defocusgan") == "defocusgan":
        widths = kw.get("dgb_widths", [[16, 32, 64, 80], [16, 32, 48], [8, 16]])
        kw["dgb_widths"] = [[4] * len(w) for w in widths]
    else:
        kw.update(encoder_widths=[4, 4, 8, 8, 8], fpn_width=8, head_width=4)
    cfg["generator_kwargs"] = kw
    dkw = {"ndf": 4}
    if cfg.get("discriminator") == "double_discriminator":
        dkw["full_layers"] = 3  # a 5-layer full-image critic needs >= 96 px crops
    cfg["discriminator_kwargs"] = dkw
    cfg.update(data_root=str(data_root), patch_size=32, patch_stride=32, epochs=0.25, gan_warmup_epochs=0,
               anneal_iters=10, val_split=None)
    if cfg.get("maps") == "net":
        cfg["maps"] = "gt"  # the fixture has ground-truth maps; no DefocusMapNet is trained here
        cfg.pop("map_weights", None)
    cfg["train"] = {**cfg.get("train", {}), "batch_size": 2, "crop_size": 32, "num_workers": 0,
                    "mixed_precision": "no", "progress": "none", "checkpoint_every": 1000, "log_every": 1}
    return cfg


class _Ctx:
    """The part of the engine's step context a recipe step uses (manual optimisation)."""

    def __init__(self, models, optimizers, phase):
        self.models, self._opts, self.phase = models, optimizers, phase
        self.step, self.device = 0, torch.device("cpu")

    def unwrap(self, name):
        return self.models[name]

    def loss_on(self, name):
        return name in self.phase.losses

    def backward(self, loss):
        loss.backward()

    def optimizer_step(self, name):
        self._opts[name].step()
        self._opts[name].zero_grad(set_to_none=True)
        return True

    def frozen(self, *names):
        import contextlib

        @contextlib.contextmanager
        def cm():
            saved = [(p, p.requires_grad) for n in names for p in self.models[n].parameters()]
            for p, _ in saved:
                p.requires_grad_(False)
            yield
            for p, flag in saved:
                p.requires_grad_(flag)

        return cm()


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_config_builds_and_runs_one_step(path, dpdd_coc):
    """Each Table 4/6 config: its recipe builds its models, data and phases and does one
    optimisation step of its last (fullest) phase. (The engine path is covered below.)"""
    from blurmap.models import build_model

    raw = yaml.safe_load(path.read_text())
    loaded = load_config(None, data=_shrink(raw, dpdd_coc))
    recipe = loaded.recipe_cls(loaded.cfg)
    models = {k: build_model(s.name, **s.kwargs) for k, s in recipe.build_models().items()}
    opts = recipe.build_optimizers(models)
    data = recipe.build_datasets()["train"]
    sample = recipe.train_transform("train")(data[0], torch.Generator().manual_seed(0))
    batch = {k: torch.stack([v, v.flip(-1)]) for k, v in sample.items()}
    phase = recipe.phases()[-1]
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}
    logged = recipe.step(batch, _Ctx(models, opts, phase))
    gan = raw.get("discriminator", "patchgan") != "none"
    assert set(models) == ({"G", "D"} if gan else {"G"})
    critic_log = "d_ragan_ls" if raw.get("gan_loss") == "ragan_ls" else "d_gp"  # RaGAN-LS has no penalty
    assert ("adv" in logged) == gan and (critic_log in logged) == gan
    assert ("perceptual" in logged) == bool(raw.get("perceptual", True))
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in logged.values())
    for k, m in models.items():  # every model was updated
        assert any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters()))


def test_paper_config_runs_one_step_through_the_engine(dpdd_coc, tmp_path):
    raw = yaml.safe_load((CONFIGS / "defocusgan_dpdd.yaml").read_text())
    res = train(load_config(None, data=_shrink(raw, dpdd_coc)), out=tmp_path / "run", resume=False)
    assert res.step == res.total_steps == 1
    assert set(res.final_weights) == {"G", "D"} and Path(res.final_weights["G"]).is_file()
    (_, logged), = res.history
    assert all(np.isfinite(v) for v in logged.values())
    assert {"loss/adv", "loss/perceptual", "loss/d_gp", "loss/l1"} <= set(logged)


def test_bad_settings_are_config_errors(dpdd_coc):
    from blurmap.errors import ConfigError

    base = {"recipe": "defocusgan", "data_root": str(dpdd_coc)}
    for bad in ({"adversarial": "both"}, {"maps": "net"}, {"maps": "magic"}, {"data_root": None},
                {"maps": "none", "adversarial": "defocus"}, {"synthetic_count": 2, "synthetic_scene": "cube"}):
        with pytest.raises(ConfigError):
            loaded = load_config(None, data={**base, **bad})
            loaded.recipe_cls(loaded.cfg).build_datasets()


@pytest.mark.slow
def test_cpu_variant_learns_to_deblur_synthetic_dp(tmp_path):
    """CPU variant structure (tiny width, bf16 autocast, channels-last) trained ~30 s on synthetic
    DP scenes rendered from the bundled photos (defocused planes, |CoC| <= 3 px); scenes of the
    held-out photo (chelsea) must get closer to the all-in-focus truth than the blurred input."""
    raw = yaml.safe_load((CONFIGS / "defocusgan_cpu.yaml").read_text())
    raw.update(generator_kwargs={"dgb_widths": [[4, 8, 8, 8], [8, 8, 8], [8, 8]]}, synthetic_count=6,
               synthetic_size=96, synthetic_repeats=8, synthetic_val_count=2, synthetic_max_coc=3.0,
               synthetic_scene="plane", epochs=9, lr_halve_epochs=100, perceptual=False, discriminator="none", anneal_iters=20,
               lr=0.002)
    raw["train"] = {**raw["train"], "batch_size": 8, "crop_size": 48, "progress": "none", "log_every": 10}
    res = train(load_config(None, data=raw), out=tmp_path / "run", resume=False)
    val = res.val_metrics
    print("held-out PSNR", val)
    assert val["psnr"] > val["psnr_input"] + 0.3, val


def test_augmentation_follows_the_config_key_and_the_paper_default_is_none(dpdd_coc):
    # the paper retrains IFAN without augmentation: its protocol is no rot90/flip
    paper = yaml.safe_load((CONFIGS / "defocusgan_dpdd.yaml").read_text())
    loaded = load_config(None, data=_shrink(paper, dpdd_coc))
    assert loaded.cfg.augment is False
    assert loaded.recipe_cls(loaded.cfg).train_transform("train").rot_flip is False
    for name in ("defocusgan_cpu.yaml", "defocusgan_starter.yaml", "defocusgan_starter_ft.yaml"):
        raw = yaml.safe_load((CONFIGS / name).read_text())
        assert raw["augment"] is True, name
    on = load_config(None, data={**_shrink(paper, dpdd_coc), "augment": True})
    assert on.recipe_cls(on.cfg).train_transform("train").rot_flip is True


def test_doublegan_ablation_trains_its_critic_with_ragan_ls(dpdd_coc):
    raw = yaml.safe_load((CONFIGS / "ablations" / "t6_ours_doublegan.yaml").read_text())
    assert raw["gan_loss"] == "ragan_ls" and raw["discriminator"] == "double_discriminator"
    loaded = load_config(None, data=_shrink(raw, dpdd_coc))
    recipe = loaded.recipe_cls(loaded.cfg)
    assert recipe.adversarial_loss().kind == "ragan_ls"
    with pytest.raises(Exception, match="gan_loss"):
        bad = load_config(None, data={**_shrink(raw, dpdd_coc), "gan_loss": "hinge"})
        bad.recipe_cls(bad.cfg)


def test_validation_input_psnr_is_scored_per_image_like_the_engine():
    from blurmap.train.recipes.defocusgan import _psnr

    sharp = torch.full((2, 3, 8, 8), 0.5)
    blur = sharp.clone()
    blur[0] += 0.1    # image 0: PSNR 20 dB
    blur[1] += 0.001  # image 1: PSNR 60 dB
    assert _psnr(blur, sharp) == pytest.approx(40.0, abs=1e-3)  # a pooled MSE would give ~23 dB
