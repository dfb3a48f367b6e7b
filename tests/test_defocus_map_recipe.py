"""The `defocus_map` recipe: configs build and run through the engine; f and g really train."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from blurmap.errors import ConfigError
from blurmap.physics.kernels import dp_kernel_stack
from blurmap.train.config import load_config
from blurmap.train.engine import train
from dp_fixtures import write_dp_dpdd

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dpdd(tmp_path_factory):
    """2 train + 1 val DPDD frames (40x48, 16-bit) with DP views rendered from a known map."""
    return write_dp_dpdd(tmp_path_factory.mktemp("dpdd_dp"), {"train": 2, "val": 1}, seed=3, with_coc=True)


def test_paper_config_runs_f_then_alternates_g_and_f(dpdd, tmp_path):
    raw = yaml.safe_load((CONFIGS / "defocus_map_dpdd.yaml").read_text())
    raw.update(data_root=str(dpdd), channels=4, levels=1, blocks=1, max_coc=4.0, epochs=3, f_epochs=1,
               alternate_every=1, lr=1e-3, loss_margin=4)
    raw["train"] = {**raw["train"], "batch_size": 2, "crop_size": 32, "num_workers": 0, "progress": "none",
                    "log_every": 1, "checkpoint_every": 1000}
    g0 = dp_kernel_stack(4)
    res = train(load_config(None, data=raw), out=tmp_path / "run", resume=False)
    assert res.step == res.total_steps == 3
    assert set(res.final_weights) == {"f", "g"}
    assert all(np.isfinite(v) for _, logged in res.history for v in logged.values())
    from blurmap.weights import load_network

    g = load_network(res.final_weights["g"], expected_name="dp_kernel_bank")
    assert float((g("left").detach() - g0).abs().sum()) > 0  # g trained in the alternation
    f = load_network(res.final_weights["f"], expected_name="defocus_map_net")
    assert float(f.head.weight.detach().abs().sum()) > 0  # f left its in-focus initialisation
    assert {"coc_mae", "coc_mae_textured", "psnr"} <= set(res.val_metrics)


def test_bad_settings_are_config_errors(dpdd):
    base = {"recipe": "defocus_map", "data_root": str(dpdd)}
    for bad in ({"data_root": None}, {"views": ["middle"]}, {"views": []}, {"f_epochs": 40}, {"reblur_operator": "nope"},
                {"data_root": None, "synthetic_count": 4, "synthetic_holdout": ["nope"]}):
        with pytest.raises(ConfigError):
            loaded = load_config(None, data={**base, **bad})
            recipe = loaded.recipe_cls(loaded.cfg)
            recipe.build_datasets()
            recipe.build_val_datasets()


def test_lr_final_cosine_decays_the_trained_models_only(dpdd):
    loaded = load_config(None, data={"recipe": "defocus_map", "data_root": str(dpdd), "lr": 1e-3,
                                     "lr_final": 1e-5, "learn_kernel": False})
    recipe = loaded.recipe_cls(loaded.cfg)
    models = {k: torch.nn.Linear(1, 1) for k in ("f", "g")}
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3) for k, m in models.items()}
    scheds = recipe.build_schedulers(opts, total_steps=10)
    assert set(scheds) == {"f"}  # g is never stepped without learn_kernel: no scheduler for it
    lrs = []
    for _ in range(10):
        opts["f"].step()
        scheds["f"].step()
        lrs.append(opts["f"].param_groups[0]["lr"])
    # cosine: halfway the lr is the mean of the two ends; at the end it is lr_final
    assert lrs[4] == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-6)
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-6)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    with pytest.raises(ConfigError, match="lr_final"):
        loaded = load_config(None, data={"recipe": "defocus_map", "data_root": str(dpdd), "lr_final": 1.0})
        loaded.recipe_cls(loaded.cfg)


@pytest.mark.parametrize("OPERATOR", ["interp", "layered"])
def test_reblur_operators_train_f_through_the_engine(dpdd, tmp_path, OPERATOR):
    raw = yaml.safe_load((CONFIGS / "defocus_map_dpdd.yaml").read_text())
    raw.update(data_root=str(dpdd), channels=4, levels=1, blocks=1, max_coc=4.0, epochs=2, f_epochs=2,
               lr=1e-3, loss_margin=4, reblur_operator=OPERATOR)
    raw["train"] = {**raw["train"], "batch_size": 2, "crop_size": 32, "num_workers": 0, "progress": "none",
                    "log_every": 1, "checkpoint_every": 1000}
    res = train(load_config(None, data=raw), out=tmp_path / "run", resume=False)
    assert res.step == res.total_steps == 2
    from blurmap.weights import load_network as load_model

    f = load_model(res.final_weights["f"], expected_name="defocus_map_net")
    assert float(f.head.weight.detach().abs().sum()) > 0  # the layered loss's gradient reached f
