"""Table 5 (blur kernel function): fixed Gaussian / fixed Butterworth / learned kernel rows."""

from pathlib import Path

import numpy as np
import pytest
import torch

from blurmap.bench import table5
from blurmap.physics.kernels import dp_kernel_stack
from blurmap.train.config import load_config
from dp_fixtures import write_dp_dpdd

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "ablations"
TINY = ["channels=4", "levels=1", "blocks=1", "max_coc=6", "synthetic_count=4", "synthetic_size=32",
        "synthetic_max_coc=6", "synthetic_val_count=0", "train.crop_size=32", "train.batch_size=2",
        "train.progress=none", "loss_margin=2", "loss_scale=1"]


def test_the_fixed_rows_do_not_learn_their_kernel():
    kinds = {}
    for label, name in table5.ROWS:
        cfg = load_config(CONFIGS / name).cfg
        kinds[label] = (cfg.kernel_kind, cfg.learn_kernel)
    assert kinds == {"Gaussian": ("gaussian", False), "Butterworth": ("butterworth", False),
                     "Ours (learned)": ("butterworth", True)}


def test_schedule_overrides_keep_the_proportions():
    cfg = load_config(CONFIGS / "t5_learned.yaml").cfg  # 16 epochs: 10 f-only, alternate every 3
    over = dict(o.split("=") for o in table5.schedule_overrides(cfg, steps=32, steps_per_epoch=16))
    assert float(over["epochs"]) == pytest.approx(2.0)
    assert float(over["f_epochs"]) == pytest.approx(1.25)
    assert float(over["alternate_every"]) == pytest.approx(0.375)
    with pytest.raises(ValueError):
        table5.schedule_overrides(cfg, 0, 16)


def test_synthetic_table5_trains_each_row_and_scores_by_deconvolution(tmp_path):
    res = table5.run_table5(tmp_path, steps=4, count=1, overrides=TINY, size=(40, 56))
    assert list(res) == [label for label, _ in table5.ROWS]
    for r in res.values():
        assert r["count"] == 1 and np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 and 0 <= r["mae"] < 1
    from blurmap.weights import load_network as load_model

    def kernels(stem):
        return load_model(tmp_path / stem / "final" / "g.safetensors")("left").detach()

    torch.testing.assert_close(kernels("t5_gaussian"), dp_kernel_stack(6, kind="gaussian").float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(kernels("t5_butterworth"), dp_kernel_stack(6).float(), atol=1e-6, rtol=0)
    assert (kernels("t5_learned") - dp_kernel_stack(6).float()).abs().max() > 0  # g trained
    text = table5.format_table5(res, "synthetic")
    assert "| blur kernel function | PSNR↑ | SSIM↑ | MAE↓ |" in text and "| Gaussian |" in text
    assert "22.56" in text  # the paper's row printed alongside


@pytest.fixture
def dpdd(tmp_path):
    """2 train + 1 test DPDD frames (40x48) with DP views rendered from a known map."""
    return write_dp_dpdd(tmp_path, {"train": 2, "test": 1}, seed=4)


def test_dpdd_table5_from_the_command_line(dpdd, tmp_path, capsys):
    code = table5.main(["--dpdd", str(dpdd), "--steps", "2", "--out", str(tmp_path / "runs"), *TINY,
                        "val_split=test", "val_count=1"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    assert f"on {dpdd}" in out and out.count("| Ours (learned) |") == 1


def test_bad_dpdd_root_is_one_line(tmp_path, capsys):
    assert table5.main(["--dpdd", str(tmp_path / "missing"), "--steps", "1", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err
