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


def parse_range(text: Optional[str], flag: str, *, integer: bool = False, low: float = 0.0) -> Optional[tuple]:
    """``"A,B"`` (or one number ``"B"`` = ``low,B``) -> ``(A, B)`` with ``low <= A <= B``; None stays None."""
    if text is None:
        return None
    kind = int if integer else float
    try:
        parts = [kind(p) for p in text.split(",")]
    except ValueError:
        raise BlurmapError(f"{flag} takes MIN,MAX (or MAX), got {text!r}") from None
    if len(parts) == 1:
        parts = [kind(low), parts[0]]
    if len(parts) != 2 or not low <= parts[0] <= parts[1]:
        raise BlurmapError(f"{flag} needs {low:g} <= MIN <= MAX, got {text!r}")
    return tuple(parts)


def camera_config(tone: str, noise: float, read_noise: float, vignetting: float, jpeg_prob: float,
                  jpeg_quality: str):
    """The :class:`~blurmap.synth.camera.CameraConfig` of the camera options (one line on bad values)."""
    from blurmap.synth.camera import TRAIN_TONE_CURVES, CameraConfig

    tones = tuple(t.strip() for t in tone.split(",") if t.strip())
    unknown = [t for t in tones if t not in TRAIN_TONE_CURVES and not t.startswith("gamma")]
    if unknown or not tones:
        raise BlurmapError(f"--tone: unknown tone curve {(unknown or [tone])[0]!r}; known: {', '.join(TRAIN_TONE_CURVES)}"
                           " or gammaG")
    q = parse_range(jpeg_quality, "--jpeg-quality", integer=True, low=1)
    return CameraConfig(tone_curves=tones, noise=noise, read_noise=read_noise, vignetting=vignetting,
                        jpeg_prob=jpeg_prob, jpeg_quality=q)


_TONE_HELP = "Tone curve(s) between encoded values and linear light, comma-separated (one per sample)."
_NOISE_HELP = "Largest Poisson gain a of the sensor noise (variance a*x + b, linear light); 0 = none."
_READ_HELP = "Largest read-noise std sqrt(b) (linear light); 0 = none."
_VIG_HELP = "Largest lens vignetting strength (1 - v*(d/d_corner)^2); 0 = none."
_JPEG_HELP = "Probability of an 8-bit JPEG round trip (DP: of the combined view; local: of both images)."


@synth.command("dp")
def dp_cmd(
    images: str = typer.Option(..., "--images", help="Source: 'bundled', 'procedural', a folder of all-in-focus "
                                                     "photos, or a comma-separated mix."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root (DPDD layout)."),
    count: int = typer.Option(..., "--count", "-n", help="Number of samples."),
    size: Optional[str] = typer.Option(None, "--size", help="WxH (resize to cover + random crop); default: photo "
                                                            "size, 1680x1120 for procedural scenes."),
    max_coc: float = typer.Option(25.0, "--max-coc", help="Largest |CoC| in px."),
    psf: str = typer.Option("butterworth", "--psf", help="DP PSF: a family (butterworth, butterworth-n2, "
                            "butterworth-n6, butterworth-lowpass, gaussian, pillbox, asymmetric, vignetted), "
                            "NAME:key=value,..., random (one per scene), or a .npy table."),
    nothing_in_focus: float = typer.Option(0.1, "--nothing-in-focus", help="Probability of a focal plane beyond "
                                                                           "the scene (nothing sharp)."),
    all_in_focus: float = typer.Option(0.05, "--all-in-focus", help="Probability of a scene entirely in focus."),
    tone: str = typer.Option("gamma2.2", "--tone", help=_TONE_HELP),
    noise: float = typer.Option(0.0, "--noise", help=_NOISE_HELP),
    read_noise: float = typer.Option(0.0, "--read-noise", help=_READ_HELP),
    vignetting: float = typer.Option(0.0, "--vignetting", help=_VIG_HELP),
    jpeg_prob: float = typer.Option(0.0, "--jpeg-prob", help=_JPEG_HELP),
    jpeg_quality: str = typer.Option("60,95", "--jpeg-quality", help="JPEG quality range MIN,MAX."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> same files)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Dual-pixel defocus scenes with ground-truth CoC maps, in the DPDD layout."""
    from blurmap.physics.psf import parse_psf
    from blurmap.synth.dp import DPConfig, generate_dp

    cfg = DPConfig(max_coc=max_coc if max_coc > 0 else 1.0, psf=None if psf == "butterworth" else parse_psf(psf),
                   nothing_in_focus=nothing_in_focus, all_in_focus=all_in_focus,
                   camera=camera_config(tone, noise, read_noise, vignetting, jpeg_prob, jpeg_quality))
    root = generate_dp(images, out, count, seed=seed, size=parse_size(size), max_coc=max_coc, overwrite=overwrite,
                       config=cfg)
    typer.echo(f"wrote {count} DP samples to {root}")


@synth.command("local")
def local_cmd(
    backgrounds: str = typer.Option(..., "--backgrounds", help="Source: 'bundled', 'procedural', a folder of sharp "
                                                               "backgrounds, or a comma-separated mix."),
    objects: str = typer.Option(..., "--objects", help="Objects: 'bundled', 'procedural', a PASCAL VOC 2012 root, "
                                                       "or a comma-separated mix."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root (blur/, sharp/, mask/)."),
    count: int = typer.Option(..., "--count", "-n", help="Number of samples."),
    size: Optional[str] = typer.Option(None, "--size", help="WxH random crop; default: background size, 1280x720 "
                                                            "for procedural backgrounds."),
    motion_px: Optional[str] = typer.Option(None, "--motion-px", help="Path length MIN,MAX px from first to last "
                                            "frame (default: 0.3-1.5 % of the shorter side per frame)."),
    rotation: Optional[float] = typer.Option(None, "--rotation", help="Total rotation range +-deg over the exposure."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Total scale change range +-fraction (e.g. 0.15)."),
    static: str = typer.Option("0,2", "--static", help="Static distractors per image MIN,MAX."),
    moving: int = typer.Option(2, "--moving", help="Moving objects per image."),
    tone: str = typer.Option("gamma2.2", "--tone", help=_TONE_HELP),
    noise: float = typer.Option(0.0, "--noise", help=_NOISE_HELP),
    read_noise: float = typer.Option(0.0, "--read-noise", help=_READ_HELP),
    vignetting: float = typer.Option(0.0, "--vignetting", help=_VIG_HELP),
    jpeg_prob: float = typer.Option(0.0, "--jpeg-prob", help=_JPEG_HELP),
    jpeg_quality: str = typer.Option("60,95", "--jpeg-quality", help="JPEG quality range MIN,MAX."),
    bits: int = typer.Option(8, "--bits", help="PNG bit depth of blur/sharp: 8 or 16."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> same files)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Local motion blur (LODE LBS): moving objects + static distractors per image."""
    from dataclasses import replace

    from blurmap.synth.local import LocalBlurConfig, generate_local
    from blurmap.synth.sources import PROCEDURAL, split_spec

    if moving < 0:
        raise BlurmapError(f"--moving must be >= 0, got {moving}")
    if rotation is not None and rotation < 0:
        raise BlurmapError(f"--rotation must be >= 0 degrees, got {rotation}")
    if scale is not None and not 0 <= scale < 1:
        raise BlurmapError(f"--scale must be in [0, 1), got {scale}")
    base = LocalBlurConfig()
    motion = replace(base.motion, extent=parse_range(motion_px, "--motion-px"), rotation=rotation, scale=scale)
    cfg = replace(base, num_moving=moving, num_static=parse_range(static, "--static", integer=True), motion=motion,
                  camera=camera_config(tone, noise, read_noise, vignetting, jpeg_prob, jpeg_quality))
    hw = parse_size(size)
    if hw is None and PROCEDURAL in split_spec(backgrounds, "--backgrounds"):
        hw = (720, 1280)
    root = generate_local(backgrounds, objects, out, count, seed=seed, size=hw, bits=bits, overwrite=overwrite,
                          config=cfg)
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
