"""The content held out for the distribution-shift split cannot be produced by any recipe's data source,
and the shifted scenes are what they claim to be."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from blurmap.physics.psf import PSFSpec, PSFTable
from blurmap.synth.bundled import bundled_objects
from blurmap.synth.camera import HELD_OUT_TONE_CURVES
from blurmap.synth.holdout import HELD_OUT_LAYOUTS, held_out_objects, held_out_photos, shifted_dp_scene, shifted_local_sample
from blurmap.synth.sources import BUNDLED, PROCEDURAL, BundledObjects, MixedObjects, ProceduralObjects, training_photos
from blurmap.synth.textures import HELD_OUT_KINDS
from blurmap.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def test_training_pools_hold_no_held_out_photo_or_object():
    held = {_digest(p) for p in held_out_photos().values()} | {_digest(c.rgb) for c in held_out_objects()}
    pool = {_digest(p) for p in training_photos()} | {_digest(c.rgb) for c in bundled_objects()}
    assert held and pool and not held & pool
    # nor a crop of one: no training photo has a held-out photo's size and mean colour
    sig = {(p.shape, round(float(p.mean()), 4)) for p in held_out_photos().values()}
    assert not sig & {(p.shape, round(float(p.mean()), 4)) for p in training_photos()}


def _check_psf(psf, where):
    if psf is None or isinstance(psf, (str, PSFTable)):
        return
    assert isinstance(psf, PSFSpec) and psf.profile != "rim" and psf.ramp != "smoothstep", where


def _check_procedural(cfg, where):
    if cfg is None:
        return
    assert not set(cfg.textures) & set(HELD_OUT_KINDS), where
    assert cfg.layout not in HELD_OUT_LAYOUTS, where


def _check_source(parts, where):
    for part in parts:
        assert part in (BUNDLED, PROCEDURAL), f"{where}: {part} is not a built-in source"


def _check_bank(bank, where):
    banks = bank.banks if isinstance(bank, MixedObjects) else [bank]
    for b in banks:
        assert isinstance(b, (BundledObjects, ProceduralObjects)), where
        if isinstance(b, ProceduralObjects):
            _check_procedural(b.config, where)
            assert {_digest(p) for p in b.photos} <= {_digest(p) for p in training_photos()}, where


def _user_data(cfg) -> list[str]:
    """The dataset folders a config reads (DPDD, REDS, VOC, ...): user data, not generated content."""
    keys = ("data_root", "reds_root", "finetune_root", "val_root", "lbs_backgrounds", "lbs_objects")
    values = [str(getattr(cfg, k)) for k in keys if getattr(cfg, k, None)]
    return [v for part in values for v in part.split(",") if v not in (BUNDLED, PROCEDURAL)]


def _datasets(recipe):
    from blurmap.errors import BlurmapError

    sets, user = {}, _user_data(recipe.cfg)
    for build in (recipe.build_datasets, recipe.build_val_datasets):
        try:
            sets.update({f"{build.__name__}:{k}": v for k, v in build().items()})
        except BlurmapError as ex:  # a config that reads user datasets needs those folders
            if not any(Path(u).name in str(ex) or u in str(ex) for u in user):
                raise
    return sets


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_no_recipe_data_source_can_produce_held_out_content(path):
    from blurmap.synth.dp_dataset import SyntheticDPDataset
    from blurmap.synth.local import LocalBlurDataset

    lc = load_config(path, ["out=/tmp/blurmap-holdout-check"])
    recipe = lc.recipe_cls(lc.cfg)
    for name, ds in _datasets(recipe).items():
        where = f"{path.name} {name}"
        if isinstance(ds, SyntheticDPDataset):
            _check_psf(ds.dp_config.psf, where)
            assert not set(ds.dp_config.camera.tone_curves) & set(HELD_OUT_TONE_CURVES), where
            if ds.source is not None:
                _check_source(ds.source.parts, where)
                _check_procedural(ds.source.procedural, where)
            held = {_digest(p) for p in held_out_photos().values()}
            assert not {_digest(p) for p in ds.photos} & held, where
        elif isinstance(ds, LocalBlurDataset):
            _check_source(ds.backgrounds.parts, where)
            _check_procedural(ds.backgrounds.procedural, where)
            _check_bank(ds.objects, where)
            assert ds.config.motion.turn == 0, where
            assert not set(ds.config.camera.tone_curves) & set(HELD_OUT_TONE_CURVES), where


def test_shifted_dp_scenes_are_fixed_and_use_held_out_content():
    torch.set_num_threads(1)
    a, b = shifted_dp_scene(1, 5, (48, 64)), shifted_dp_scene(1, 5, (48, 64))
    np.testing.assert_array_equal(a["combined"], b["combined"])
    assert a["info"]["image"] in held_out_photos()
    assert a["info"]["psf"]["profile"] == "rim" and a["info"]["camera"]["tone"] == "filmic"
    ground = shifted_dp_scene(0, 5, (48, 64))
    assert ground["info"]["image"] == "procedural-ground" and np.abs(ground["coc"]).max() <= 20


def test_shifted_local_samples_use_held_out_objects_and_keep_the_background():
    torch.set_num_threads(1)
    names = set()
    for i in range(4):
        s = shifted_local_sample(i, 3, (96, 128))
        names |= {m["object"] for m in s["info"]["moving"] + s["info"]["static"]}
        outside = (s["mask"][0] == 0).expand_as(s["blur"])
        assert torch.equal(s["blur"][outside], s["sharp"][outside])
    assert all(n.startswith(("holdout:", "procedural:")) for n in names) and any(n.startswith("holdout:") for n in names)
