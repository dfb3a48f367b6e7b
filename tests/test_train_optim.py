"""``train.optimizer_impl``: the optimizer update implementation (loop / foreach / fused)."""

from pathlib import Path

import pytest
import torch

from blurmap.errors import ConfigError
from blurmap.train.checkpoint import checkpoint_dir, list_checkpoints
from blurmap.train.config import load_config
from blurmap.train.engine import train
from blurmap.train.optim import set_optimizer_impl
from blurmap.weights import load_weights

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny_unet.yaml"
SHORT = ["epochs=1", "image_size=32", "train.crop_size=32", "train.batch_size=4", "train.log_every=4",
         "train.val_every=0", "train.checkpoint_every=8", "train.keep_checkpoints=5", "train.progress=none"]


def _trained(impl: str, steps: int = 6) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    set_optimizer_impl(opt, impl)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.rand(2, 3, 16, 16, generator=gen)
        loss = (net(x) - x.flip(-1)).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return [p.detach().clone() for p in net.parameters()]


def test_implementations_apply_the_same_adam_update():
    ref = _trained("default")
    for impl in ("foreach", "fused"):
        got = _trained(impl)
        moved = max(float((a - b).abs().max()) for a, b in zip(ref, _trained("default", steps=0)))
        assert moved > 1e-3  # the parameters really moved
        for a, b in zip(ref, got):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_flags_are_set_and_default_restores_the_built_ones():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.1)
    set_optimizer_impl(opt, "fused")
    assert opt.param_groups[0]["fused"] is True and not opt.param_groups[0]["foreach"]
    state = opt.state_dict()
    fresh = torch.optim.Adam([p], lr=0.1)
    fresh.load_state_dict(state)  # a checkpoint of a fused run
    assert fresh.param_groups[0]["fused"] is True
    set_optimizer_impl(fresh, "default")
    assert fresh.param_groups[0]["fused"] == fresh.defaults["fused"]
    with pytest.raises(ConfigError, match="no fused implementation"):
        set_optimizer_impl(torch.optim.LBFGS([p]), "fused", "net")


def test_bad_value_is_a_config_error():
    with pytest.raises(ConfigError, match="optimizer_impl"):
        load_config(TINY, SHORT + ["train.optimizer_impl=fast"])


@pytest.mark.slow
def test_fused_run_resumes_exactly(tmp_path):
    """A fused run resumed from a mid-run checkpoint ends with the uninterrupted run's weights."""
    cfg = SHORT + ["epochs=2", "train.optimizer_impl=fused"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both runs on one thread: float reductions depend on the count
    try:
        _fused_resume(cfg, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _fused_resume(cfg, tmp_path):
    ref = train(load_config(TINY, cfg), out=tmp_path / "ref")
    assert ref.step == 32
    resumed_dir = tmp_path / "resumed"
    first = list_checkpoints(ref.run_dir)[0]  # step 8
    folder = checkpoint_dir(resumed_dir)
    folder.mkdir(parents=True)
    for src in (first, first.with_name(first.name + ".sha256")):  # the checkpoint and its checksum
        (folder / src.name).write_bytes(src.read_bytes())
    again = train(load_config(TINY, cfg), out=resumed_dir)
    assert again.resumed_from is not None and again.resumed_from.name == first.name
    a, _ = load_weights(again.final_weights["net"])
    b, _ = load_weights(ref.final_weights["net"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
