"""Config loading: YAML + overrides validated against the recipe's dataclass schema."""

from pathlib import Path

import pytest

from blurmap.cli import main
from blurmap.errors import ConfigError
from blurmap.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny_unet.yaml"


def _write(tmp_path, text):
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_tiny_config_loads_with_overrides():
    lc = load_config(TINY, ["train.batch_size=2", "epochs=0.5", "train.grad_clip=1.5"])
    assert lc.recipe_cls.name == "tiny"
    assert lc.cfg.train.batch_size == 2 and lc.cfg.epochs == 0.5 and lc.cfg.train.grad_clip == 1.5
    # untouched values come from the file, the rest from the schema defaults
    assert lc.cfg.channels == 8 and lc.cfg.train.accum_steps == 1
    assert "batch_size: 2" in lc.to_yaml()


def test_unknown_nested_key_names_it_and_lists_valid_keys(tmp_path):
    p = _write(tmp_path, "recipe: tiny\ntrain:\n  batch_sz: 4\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "'train.batch_sz'" in msg
    assert "batch_size" in msg and "grad_clip" in msg  # the valid keys of that section
    assert "\n" not in msg


def test_unknown_top_level_override(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'chanels'.*channels"):
        load_config(TINY, ["chanels=4"])


@pytest.mark.parametrize("override,key", [
    ("train.batch_size=abc", "train.batch_size"),
    ("train.batch_size=2.5", "train.batch_size"),
    ("lr=fast", "lr"),
    ("train.deterministic=maybe", "train.deterministic"),
])
def test_wrong_type_names_the_key(override, key):
    with pytest.raises(ConfigError, match=rf"wrong type for '{key}'"):
        load_config(TINY, [override])


def test_wrong_type_in_file(tmp_path):
    p = _write(tmp_path, "recipe: tiny\nchannels: many\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: wrong type for 'channels'"):
        load_config(p)


def test_unquoted_no_means_no_mixed_precision(tmp_path):
    # YAML 1.1 reads `no` as false; the schema field is a string
    assert load_config(TINY, ["train.mixed_precision=no"]).cfg.train.mixed_precision == "no"
    p = _write(tmp_path, "recipe: tiny\ntrain:\n  mixed_precision: no\n")
    assert load_config(p).cfg.train.mixed_precision == "no"


def test_bad_engine_values_and_recipe(tmp_path):
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        load_config(TINY, ["train.mixed_precision=fp8"])
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config(TINY, ["train.batch_size=0"])
    with pytest.raises(ConfigError, match=r"unknown recipe 'nope'.*tiny"):
        load_config(TINY, ["recipe=nope"])
    with pytest.raises(ConfigError, match="missing key 'recipe'"):
        load_config(_write(tmp_path, "channels: 4\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "recipe: [tiny\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(TINY, ["epochs"])


def test_cli_rejects_bad_key_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", str(TINY), "train.bach_size=2", "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("blurmap: error: ") and "'train.bach_size'" in err and err.count("\n") == 1
    assert not run.exists()  # nothing was built or written


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_shipped_config_is_valid(path):
    lc = load_config(path)  # a typo or a key the recipe dropped is a ConfigError here
    assert lc.cfg.recipe == lc.recipe_cls.name and "recipe:" in lc.to_yaml()
