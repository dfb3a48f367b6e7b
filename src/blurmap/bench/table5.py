"""DefocusGAN Table 5 (blur kernel function): train the map net with each kernel, score by deconvolution.

    python -m blurmap.bench.table5 [--dpdd ROOT] [--steps N] [--out runs/table5] [--count K]

Rows (``configs/ablations/t5_*.yaml``): **Gaussian** and **Butterworth** kernels are FIXED
(``learn_kernel: false``); **Ours** learns the kernel from the eq. 3 initialisation,
alternating with the map net as in the paper. For each row the map net f is trained with its
kernel by the reblur loss, then the row is scored by the deconvolution protocol of Tables 3
and 5: the blurred (combined) image is deconvolved (Richardson-Lucy, :func:`blurmap.deconv.deconvolve`)
with f's map and **the row's own kernel** (map and kernel together are the blur model that
row learned; the paper does not say which kernel it deconvolves with), and PSNR / SSIM / MAE
are taken against the sharp image (:mod:`blurmap.metrics`, float images, peak 1).

Data: with ``--dpdd ROOT`` the configs train on ``ROOT``'s train split
(``data_root=ROOT synthetic_count=0``) and are scored on its test split (first ``--count``
frames, all by default); otherwise they train on synthetic DP scenes and are scored on the
held-out synthetic scenes of :func:`blurmap.eval.defocus_map.heldout_dp_scenes`.
``--steps N`` rescales every config's epochs (f-only, alternation, total) so a run takes about
``N`` optimizer steps, keeping the proportions of its schedule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

#: (row label, config) in the paper's order
ROWS = (
    ("Gaussian", "t5_gaussian.yaml"),
    ("Butterworth", "t5_butterworth.yaml"),
    ("Ours (learned)", "t5_learned.yaml"),
)
#: the paper's Table 5 (DPDD), for the printed comparison
PAPER = {"Gaussian": (22.56, 0.687, 0.054), "Butterworth": (23.31, 0.702, 0.049), "Ours (learned)": (23.56, 0.711, 0.049)}

__all__ = ["PAPER", "ROWS", "format_table5", "main", "run_table5", "schedule_overrides", "score_row", "train_row"]


def default_config_dir() -> Path:
    """``configs/ablations`` of the source checkout."""
    return Path(__file__).resolve().parents[3] / "configs" / "ablations"


def schedule_overrides(cfg, steps: int, steps_per_epoch: float) -> list[str]:
    """``key=value`` overrides scaling ``epochs``, ``f_epochs``, ``alternate_every`` to ~``steps`` steps.

    Args:
        cfg: the loaded recipe config (its epochs fields).
        steps: wanted optimizer steps of the whole run (>= 1).
        steps_per_epoch: optimizer steps one epoch of its training set takes.
    """
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    factor = steps / max(cfg.epochs * steps_per_epoch, 1e-9)
    one = 1.0 / steps_per_epoch  # every phase keeps at least one step
    f_epochs = max(cfg.f_epochs * factor, one)
    alternate = max(cfg.alternate_every * factor, one)
    epochs = max(cfg.epochs * factor, f_epochs + (2 * alternate if cfg.epochs > cfg.f_epochs else 0.0))
    return [f"epochs={epochs:.6g}", f"f_epochs={f_epochs:.6g}", f"alternate_every={alternate:.6g}"]


def _steps_per_epoch(loaded) -> float:
    c = loaded.cfg
    if c.synthetic_count > 0:
        n = c.synthetic_count
    else:
        from blurmap.data.dpdd import list_dpdd

        n = len(list_dpdd(c.data_root, c.train_split, require_dp=True))
    return max(n // max(c.train.batch_size, 1), 1)


def train_row(config: str | Path, out: Path, *, dpdd: str | None = None, steps: int | None = None,
              overrides: Sequence[str] = ()) -> dict[str, Path]:
    """Train one Table 5 config; returns ``{"f": map-net weights, "g": kernel weights}``."""
    from blurmap.train.config import load_config
    from blurmap.train.engine import train

    extra = [f"data_root={dpdd}", "synthetic_count=0"] if dpdd else []
    extra += list(overrides)
    loaded = load_config(config, extra)
    if steps is not None:
        loaded = load_config(config, extra + schedule_overrides(loaded.cfg, steps, _steps_per_epoch(loaded)))
    res = train(loaded, out=out, resume=False)
    return {"f": Path(res.final_weights["f"]), "g": Path(res.final_weights["g"])}


def _pairs(dpdd: str | None, count: int | None, size: tuple[int, int], max_coc: float):
    """``(name, left, right, blurred, sharp)`` float32 HWC arrays of the scoring set."""
    if dpdd:
        from blurmap.data.dpdd import list_dpdd
        from blurmap.io import read_image

        items = list_dpdd(dpdd, "test", require_dp=True)[: count or None]
        for it in items:
            yield (it.name, read_image(it.left).array, read_image(it.right).array,
                   read_image(it.source).array, read_image(it.target).array)
        return
    from blurmap.eval.defocus_map import heldout_dp_scenes

    for s in heldout_dp_scenes(count or 4, size, max_coc):
        yield s["name"], s["left"], s["right"], s["combined"], s["aif"]


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def score_row(weights: dict[str, Path], *, dpdd: str | None = None, count: int | None = None,
              size: tuple[int, int] = (96, 128), max_coc: float = 20.0, method: str = "rl") -> dict:
    """Deconvolution protocol of one row: mean ``psnr``, ``ssim``, ``mae`` and ``count``."""
    from blurmap.deconv import deconvolve
    from blurmap.metrics import mae, psnr, ssim
    from blurmap.weights import load_network as load_model

    f = load_model(weights["f"], expected_name="defocus_map_net").eval()
    with torch.no_grad():
        kernels = load_model(weights["g"], expected_name="dp_kernel_bank")("left").detach().float()
    rows = []
    for _, left, right, blurred, sharp in _pairs(dpdd, count, size, max_coc):
        with torch.no_grad():
            coc = f.predict(_chw(left), _chw(right))["map"].float()
            rec = deconvolve(_chw(blurred), coc, method, bank=kernels)[0].permute(1, 2, 0).numpy()
        rows.append((psnr(rec, sharp), ssim(rec, sharp), mae(rec, sharp)))
    m = np.mean(rows, axis=0)
    return {"psnr": float(m[0]), "ssim": float(m[1]), "mae": float(m[2]), "count": len(rows)}


def run_table5(out: str | Path, *, dpdd: str | None = None, steps: int | None = None, count: int | None = None,
               config_dir: str | Path | None = None, overrides: Sequence[str] = (),
               size: tuple[int, int] = (96, 128)) -> dict[str, dict]:
    """Train and score every row; returns ``{row label: scores}`` in the paper's order."""
    cdir = Path(config_dir) if config_dir else default_config_dir()
    results = {}
    for label, name in ROWS:
        weights = train_row(cdir / name, Path(out) / Path(name).stem, dpdd=dpdd, steps=steps, overrides=overrides)
        results[label] = score_row(weights, dpdd=dpdd, count=count, size=size)
    return results


def format_table5(results: dict[str, dict], data: str) -> str:
    """Markdown in the paper's Table 5 layout, with the paper's DPDD numbers alongside."""
    lines = [f"Table 5 (blur kernel function), deconvolution protocol on {data}", "",
             "| blur kernel function | PSNR↑ | SSIM↑ | MAE↓ | paper (DPDD) PSNR / SSIM / MAE |",
             "|---|---|---|---|---|"]
    for label, r in results.items():
        p = PAPER.get(label)
        ref = f"{p[0]:.2f} / {p[1]:.3f} / {p[2]:.3f}" if p else ""
        lines.append(f"| {label} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['mae']:.3f} | {ref} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blurmap.bench.table5", description=__doc__.splitlines()[0])
    ap.add_argument("--dpdd", help="DPDD root (train on train, score on test); default: synthetic DP scenes")
    ap.add_argument("--steps", type=int, help="about this many optimizer steps per row (rescales the schedule)")
    ap.add_argument("--count", type=int, help="score on the first COUNT test frames / held-out scenes")
    ap.add_argument("--out", default="runs/table5", help="run folders of the three trainings")
    ap.add_argument("--configs", help="folder of t5_*.yaml (default: configs/ablations)")
    ap.add_argument("overrides", nargs="*", help="key=value applied to every config (e.g. train.batch_size=2)")
    args = ap.parse_args(argv)
    from blurmap.errors import BlurmapError

    try:
        results = run_table5(args.out, dpdd=args.dpdd, steps=args.steps, count=args.count,
                             config_dir=args.configs, overrides=args.overrides)
    except (BlurmapError, ValueError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    print(format_table5(results, args.dpdd or "held-out synthetic DP scenes"), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
