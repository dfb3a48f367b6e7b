"""The training-dataset registry: recipes name their data, and shared data fields mean the same thing."""

import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.train.config import load_config
from blurmap.train.datasets import available_datasets, build_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


def _recipe(data):
    lc = load_config(None, data=data)
    return lc.recipe_cls(lc.cfg)


_SYNTH = {"synthetic_count": 2, "synthetic_size": 32, "synthetic_max_coc": 4.0, "synthetic_val_count": 1,
          "train": {"seed": 5}}


def test_every_builder_is_registered():
    assert set(available_datasets()) >= {"synthetic_dp", "dpdd", "dpdd_patches", "lbs", "reds", "local_folder"}


def test_unknown_name_and_split_are_one_line_config_errors():
    cfg = _recipe({"recipe": "defocus_map", **_SYNTH}).cfg
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'; known datasets: .*synthetic_dp"):
        build_dataset("nope", cfg, "train")
    with pytest.raises(ConfigError, match="train or val"):
        build_dataset("synthetic_dp", cfg, "test")


def test_recipes_name_their_data():
    assert _recipe({"recipe": "defocus_map", **_SYNTH}).dataset == "synthetic_dp"
    assert _recipe({"recipe": "defocusgan", **_SYNTH}).dataset == "synthetic_dp"
    assert _recipe({"recipe": "defocus_map", "data_root": "x"}).dataset == "dpdd"
    assert _recipe({"recipe": "defocusgan", "data_root": "x"}).dataset == "dpdd_patches"


def test_both_defocus_recipes_validate_on_the_same_synthetic_scenes():
    # one validation rule for the shared fields: same seed, same scenes (the DP views aside,
    # which the DefocusGAN recipe does not keep)
    a = _recipe({"recipe": "defocus_map", **_SYNTH}).build_val_datasets()["val"][0]
    b = _recipe({"recipe": "defocusgan", **_SYNTH}).build_val_datasets()["val"][0]
    assert set(b) == {"blur", "sharp", "coc"} and {"left", "right"} <= set(a)
    for k in b:
        assert torch.equal(a[k], b[k]), k


def test_validation_scenes_differ_from_fixed_training_scenes():
    r = _recipe({"recipe": "defocusgan", **_SYNTH})
    train, val = r.build_datasets()["train"], r.build_val_datasets()["val"]
    assert not torch.equal(train[0]["coc"], val[0]["coc"])


def test_fresh_training_scenes_change_between_draws_fixed_ones_do_not():
    fresh = _recipe({"recipe": "defocus_map", **_SYNTH}).build_datasets()["train"]
    fixed = _recipe({"recipe": "defocusgan", **_SYNTH}).build_datasets()["train"]
    assert not torch.equal(fresh[0]["coc"], fresh[0]["coc"])
    assert torch.equal(fixed[0]["coc"], fixed[0]["coc"])


def test_lbs_overrides_size_count_and_seed():
    r = _recipe({"recipe": "bladenet", "width": 4, "val_count": 3, "val_size": 48, "lbs_length": 2,
                 "train": {"crop_size": 32}})
    assert len(r.build_datasets()["lbs"]) == 2 and r.build_datasets()["lbs"][0]["blur"].shape[-1] == 32
    assert len(r.build_val_datasets()["lbs"]) == 3
    other = build_dataset("lbs", r.cfg, "val", size=40, length=1, seed=3)
    assert len(other) == 1 and other[0]["blur"].shape[-2:] == (40, 40)
    with pytest.raises(ConfigError, match="training set"):
        build_dataset("reds", r.cfg, "val")


def test_lbs_sizes_mix_canvases_and_keep_each_scene():
    sizes = [32, [40, 56]]
    r = _recipe({"recipe": "bladenet", "width": 4, "val_count": 1, "val_size": 48, "lbs_length": 12,
                 "lbs_sizes": sizes, "train": {"crop_size": 32, "batch_size": 1}})
    mixed = r.build_datasets()["lbs"]
    shapes = [tuple(mixed[i]["blur"].shape[-2:]) for i in range(len(mixed))]
    assert set(shapes) == {(32, 32), (40, 56)}  # both canvases occur in 12 samples
    assert all(tuple(mixed[i]["mask"].shape[-2:]) == shapes[i] for i in range(3))
    # sample i at the size it drew is the same scene a one-size set of that size has at i
    i = shapes.index((40, 56))
    single = build_dataset("lbs", r.cfg, "val", size=(40, 56), length=12, seed=r.cfg.lbs_seed)
    assert torch.equal(mixed[i]["blur"], single[i]["blur"]) and torch.equal(mixed[i]["mask"], single[i]["mask"])
    assert r.build_val_datasets()["lbs"][0]["blur"].shape[-2:] == (48, 48)  # validation keeps val_size


@pytest.mark.parametrize("data, message", [
    ({"lbs_sizes": [32, 48], "train": {"batch_size": 2}}, "cannot share a batch; set train.batch_size=1"),
    ({"lbs_sizes": [32, [8, 48]], "train": {"batch_size": 1}}, "lbs_sizes: .*at least 16x16"),
    ({"lbs_sizes": [32, "big"], "train": {"batch_size": 1}}, "lbs_sizes: "),
])
def test_bad_lbs_sizes_are_one_line_config_errors(data, message):
    r = _recipe({"recipe": "bladenet", "width": 4, "lbs_length": 2, **data})
    with pytest.raises(ConfigError, match=message) as ex:
        r.build_datasets()
    assert "\n" not in str(ex.value)
