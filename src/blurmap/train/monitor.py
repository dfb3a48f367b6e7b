"""Where a run reports: TensorBoard (``RUN/tb``), a plain-text log (``RUN/train.log``), and
the terminal (a rich progress bar with ETA and losses on a TTY, plain lines otherwise).

Only the main process reports; the other processes get a silent monitor.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Mapping, Optional

import torch


def _fmt(v: float) -> str:
    return f"{v:.4g}"


class Monitor:
    """Reporting sink of one run.

    Args:
        run_dir: run directory (``tb/`` and ``train.log`` go there).
        total_steps: optimizer steps of the run (for the bar and ETA).
        start_step: first step of this invocation (after a resume).
        mode: ``"auto" | "rich" | "plain" | "none"`` terminal output.
        active: False on non-main processes (nothing is written).
    """

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, mode: str = "auto", active: bool = True):
        self.active = active
        self.total = total_steps
        self.t0 = time.monotonic()
        self.start_step = start_step
        self._bar = None
        self._writer = None
        self._log = None
        if not active:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(run_dir / "train.log", "a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_step if start_step > 0 else None)
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "plain"
        self.mode = mode
        if mode == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[losses]}"), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("train", total=total_steps, completed=start_step, phase="", losses="")

    # --- text -------------------------------------------------------------------------------
    def line(self, text: str, echo: bool = True) -> None:
        """A line in train.log (and on the terminal in plain mode, or above the bar)."""
        if not self.active:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"{stamp} {text}\n")
        self._log.flush()
        if not echo or self.mode == "none":
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, flush=True)

    def eta(self, step: int) -> Optional[float]:
        done = step - self.start_step
        if done <= 0:
            return None
        return (time.monotonic() - self.t0) / done * (self.total - step)

    # --- per step -------------------------------------------------------------------------
    def progress(self, step: int, phase: str, losses: Mapping[str, float]) -> None:
        """Advance the bar to ``step`` (completed optimizer steps)."""
        if self._bar is not None:
            text = " ".join(f"{k} {_fmt(v)}" for k, v in losses.items())
            self._bar.update(self._task, completed=step, phase=phase, losses=text)

    def scalars(self, step: int, values: Mapping[str, float], phase: str, echo: Optional[bool] = None) -> None:
        """Log scalars to TensorBoard and one text line (``step N/T phase ... ETA``).

        The line goes to the terminal when ``echo`` is True; by default only without a
        progress bar (which shows the losses itself)."""
        if not self.active:
            return
        for k, v in values.items():
            self._writer.add_scalar(k, v, step)
        eta = self.eta(step)
        eta_s = f" ETA {timedelta(seconds=int(eta))}" if eta is not None else ""
        body = " ".join(f"{k} {_fmt(v)}" for k, v in values.items() if not k.startswith("phase"))
        if echo is None:
            echo = self._bar is None
        self.line(f"step {step}/{self.total} phase {phase} {body}{eta_s}", echo=echo)

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        """Log a ``(3, H, W)`` image in [0, 1]."""
        if self.active:
            self._writer.add_image(tag, grid.clamp(0, 1), step)

    def close(self) -> None:
        if not self.active:
            return
        if self._bar is not None:
            self._bar.stop()
        self._writer.flush()
        self._writer.close()
        self._log.close()
        self.active = False


def image_grid(columns: list[torch.Tensor], max_rows: int, pad: int = 2) -> torch.Tensor:
    """Tile ``columns`` (each ``(B, C, H, W)``, C in {1, 3}) into one ``(3, H', W')`` grid.

    Rows are samples (at most ``max_rows``), columns e.g. input | output | target | map.
    One-channel maps are min-max normalised per sample to [0, 1] and shown grey. Columns
    with different spatial sizes are resized to the first column's size.
    """
    rows = min(max_rows, columns[0].shape[0])
    h, w = columns[0].shape[-2:]
    tiles = []
    for r in range(rows):
        row = []
        for col in columns:
            t = col[r].detach().float().cpu()
            if t.shape[0] == 1:
                lo, hi = t.min(), t.max()
                t = ((t - lo) / (hi - lo) if hi > lo else torch.zeros_like(t)).expand(3, -1, -1)
            if t.shape[-2:] != (h, w):
                t = torch.nn.functional.interpolate(t[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            row.append(torch.nn.functional.pad(t.clamp(0, 1), (pad, pad, pad, pad), value=1.0))
        tiles.append(torch.cat(row, dim=-1))
    return torch.cat(tiles, dim=-2)
