"""``blurmap synth dp|local|video``: write synthetic datasets in the real on-disk layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

synth = typer.Typer(help="Write synthetic training data (DPDD layout, LBS, video blur).", no_args_is_help=True)
app.add_typer(synth, name="synth")


def parse_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"WxH"`` -> ``(H, W)``; None stays None."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise BlurmapError(f"--size must look like WIDTHxHEIGHT (e.g. 1680x1120), got {text!r}") from None
    if w < 8 or h < 8:
        raise BlurmapError(f"--size must be at least 8x8, got {text!r}")
    return h, w


@synth.command("dp")
def dp_cmd(
    images: str = typer.Option(..., "--images", help="Folder of all-in-focus photos, or 'bundled'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root (DPDD layout)."),
    count: int = typer.Option(..., "--count", "-n", help="Number of samples."),
    size: Optional[str] = typer.Option(None, "--size", help="WxH (resize to cover + random crop); default: photo size."),
    max_coc: float = typer.Option(25.0, "--max-coc", help="Largest |CoC| in px."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> same files)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Dual-pixel defocus scenes with ground-truth CoC maps, in the DPDD layout."""
    from blurmap.synth.dp import generate_dp

    root = generate_dp(images, out, count, seed=seed, size=parse_size(size), max_coc=max_coc, overwrite=overwrite)
    typer.echo(f"wrote {count} DP samples to {root}")


@synth.command("local")
def local_cmd(
    backgrounds: str = typer.Option(..., "--backgrounds", help="Folder of sharp backgrounds, or 'bundled'."),
    objects: str = typer.Option(..., "--objects", help="PASCAL VOC 2012 root, or 'bundled'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root (blur/, sharp/, mask/)."),
    count: int = typer.Option(..., "--count", "-n", help="Number of samples."),
    size: Optional[str] = typer.Option(None, "--size", help="WxH random crop; default: background size."),
    bits: int = typer.Option(8, "--bits", help="PNG bit depth of blur/sharp: 8 or 16."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> same files)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Local motion blur (LODE LBS): two moving objects + static distractors per image."""
    from blurmap.synth.local import generate_local

    root = generate_local(
        backgrounds, objects, out, count, seed=seed, size=parse_size(size), bits=bits, overwrite=overwrite
    )
    typer.echo(f"wrote {count} local-blur samples to {root}")


@synth.command("video")
def video_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Output root (blur/, sharp/)."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="Folder of consecutive high-fps frames."),
    video: Optional[Path] = typer.Option(None, "--video", help="High-fps video file."),
    count: Optional[int] = typer.Option(None, "--count", "-n", help="At most this many pairs (default: all windows)."),
    gamma: float = typer.Option(2.2, "--gamma", help="CRF power law."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the window lengths."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Average random odd windows of 7..13 frames in linear light; middle frame = sharp."""
    from blurmap.synth.video import generate_video

    root = generate_video(out, frames=frames, video=video, count=count, seed=seed, gamma=gamma, overwrite=overwrite)
    typer.echo(f"wrote blurred/sharp pairs to {root}")
