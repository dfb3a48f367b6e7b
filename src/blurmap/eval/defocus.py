"""Defocus deblurring benchmark on a DPDD-layout split (paper Table 1 columns).

``evaluate_defocus`` restores every ``{split}_c/source`` image with a weights file, writes
the results as PNGs named like their **ground truth** (``OUT/restored/1P0A0891.png``), and
scores them with :func:`blurmap.eval.folders.evaluate_folders` — the code behind
``blurmap metrics`` — so ``blurmap metrics --pred OUT/restored --gt ROOT/test_c/target
--bits B`` prints the same numbers (one protocol, two entry points).

Outputs in ``OUT``: ``restored/`` (``bits``-deep PNGs), ``eval_defocus.json`` (per image +
group means + params), ``eval_defocus.md`` (the table) and ``best_worst.png`` (rows: the
``k`` best then the ``k`` worst images by PSNR; columns input | restored | ground truth).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from blurmap.data.dpdd import list_dpdd
from blurmap.errors import BlurmapError
from blurmap.eval.report import image_grid, markdown_table, thumbnail, write_json

METRICS = ("psnr", "ssim", "mae", "lpips")


def read_name_list(path: str | Path) -> set[str]:
    """Names from a text file, one per line (file names or stems; ``#`` comments allowed)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as ex:
        raise BlurmapError(f"{p}: cannot read name list ({ex.strerror or ex})") from None
    names = {Path(line.split("#", 1)[0].strip()).stem for line in lines}
    names.discard("")
    if not names:
        raise BlurmapError(f"{p}: name list is empty")
    return names


def _group_means(rows: list[dict], metrics) -> dict:
    out = {"count": len(rows)}
    for m in metrics:
        vals = [r[m] for r in rows if m in r]
        if vals:
            out[m] = float(np.mean(vals))
    return out


def evaluate_defocus(
    data: str | Path,
    weights: str | Path,
    *,
    split: str = "test",
    bits: int = 16,
    lpips: str = "alex",
    out: Optional[str | Path] = None,
    indoor_list: Optional[str | Path] = None,
    device: str = "cpu",
    precision: str = "fp32",
    tile: Optional[int] = None,
    best_worst: int = 3,
    with_input: bool = True,
    progress: Optional[Callable[[str], None]] = None,
) -> dict:
    """Run a defocus-deblurring model on a DPDD-layout split and score it.

    Args:
        data: DPDD-layout root.
        weights: ``.safetensors`` of a restoration model (e.g. ``defocusgan``).
        split: ``test`` (76 frames in DPDD), ``val`` or ``train``.
        bits: protocol bit depth (16 = DPDD native, or 8); outputs are written this deep.
        lpips: ``alex`` (default, the field's usual), ``vgg`` or ``none``.
        out: output folder (created; must not already hold the outputs); None = temporary,
            only the report is returned.
        indoor_list: text file of indoor scene names (source or target stems); adds
            ``indoor`` / ``outdoor`` groups (DPDD test: 37 indoor, 39 outdoor).
        device, precision, tile: inference settings (:func:`blurmap.eval.runner.restore_image`).
        best_worst: images per side in the best/worst grid.
        with_input: also score the blurred inputs (group ``"input (blurred)"``, and
            ``images[i]["input"]``), the do-nothing baseline.
        progress: called with each image name before it is restored.

    Returns:
        report dict: ``task, data, split, bits, lpips_net, weights, model, params, count,
        groups {["indoor", "outdoor"], "all", ["input (blurred)"]}: {count, psnr, ssim, mae, lpips},
        images: [...]``.

    Raises:
        BlurmapError: bad layout, unreadable image, unknown names in the indoor list, an
            existing output. Nothing is left in ``out`` on error.
    """
    from blurmap.eval.folders import evaluate_folders
    from blurmap.eval.protocol import read_protocol_image
    from blurmap.eval.runner import count_parameters, load_restoration_model, restore_image
    from blurmap.io import read_image, write_image
    from blurmap.metrics import LPIPS, evaluate_pair, quantize

    if bits not in (8, 16):
        raise BlurmapError(f"--bits must be 8 or 16, got {bits}")
    if lpips not in ("alex", "vgg", "none"):
        raise BlurmapError(f"--lpips must be alex, vgg or none, got {lpips!r}")
    items = list_dpdd(data, split, require_dp=False)
    indoor = None
    if indoor_list is not None:
        indoor = read_name_list(indoor_list)
        known = {it.name for it in items} | {it.target.stem for it in items}
        unknown = sorted(indoor - known)
        if unknown:
            raise BlurmapError(f"{indoor_list}: {unknown[0]!r} is not a {split} image of {data}")
    model, meta = load_restoration_model(weights)
    lpips_model = LPIPS(lpips) if lpips != "none" else None

    final_out = Path(out) if out is not None else None
    outputs = ("restored", "best_worst.png", "eval_defocus.md", "eval_defocus.json")
    for name in outputs if final_out is not None else ():
        if (final_out / name).exists():
            raise BlurmapError(f"{final_out / name}: already exists; choose another -o folder")
    created = final_out is not None and not final_out.exists()
    if final_out is not None:
        final_out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".eval-", dir=final_out))
    try:
        restored_dir = work / "restored"
        restored_dir.mkdir()
        gt_dir = items[0].target.parent
        thumbs: dict[str, tuple] = {}
        source_of: dict[str, str] = {}
        input_rows: dict[str, dict] = {}
        for it in items:
            if progress is not None:
                progress(it.name)
            blurred = read_protocol_image(it.source, bits)  # 8-bit protocol: 8-bit input too
            result = restore_image(model, blurred, device=device, precision=precision, tile=tile)
            write_image(restored_dir / f"{it.target.stem}.png", result, bits=bits)
            thumbs[it.target.stem] = (thumbnail(blurred), thumbnail(result))
            source_of[it.target.stem] = it.name
            if with_input:  # the blurred input scored the same way: the "do nothing" baseline
                gt = read_protocol_image(it.target, bits)
                input_rows[it.target.stem] = evaluate_pair(quantize(blurred, bits), quantize(gt, bits), lpips=lpips_model)
        report_m, failures = evaluate_folders(restored_dir, gt_dir, bits=bits, lpips=lpips_model)
        if failures:
            raise BlurmapError(failures[0])
        rows = [r for r in report_m["images"] if r["name"] in source_of]
        for r in rows:
            r["source"] = source_of[r["name"]]
            r.pop("pred", None)
            r.pop("gt", None)
        metrics = [m for m in METRICS if rows and m in rows[0]]
        groups = {"all": _group_means(rows, metrics)}
        if indoor is not None:
            ins = [r for r in rows if r["name"] in indoor or r["source"] in indoor]
            outs = [r for r in rows if not (r["name"] in indoor or r["source"] in indoor)]
            groups = {"indoor": _group_means(ins, metrics), "outdoor": _group_means(outs, metrics), **groups}
        if with_input:
            for r in rows:
                r["input"] = {m: input_rows[r["name"]][m] for m in metrics}
            groups["input (blurred)"] = _group_means([r["input"] for r in rows], metrics)
        params = count_parameters(model)
        report = {
            "task": "defocus", "data": str(data), "split": split, "bits": bits,
            "lpips_net": lpips if lpips != "none" else None, "weights": str(weights),
            "model": meta.get("name"), "params": params, "count": len(rows),
            "precision": precision, "tile": tile, "groups": groups, "images": rows,
        }
        report["table"] = markdown_table(groups, metrics, {"Params (M)": f"{params / 1e6:.2f}"})
        if final_out is not None:
            ranked = sorted(rows, key=lambda r: r["psnr"], reverse=True)
            k = min(best_worst, len(ranked) // 2) or min(1, len(ranked))
            picks = ranked[:k] + (ranked[-k:] if len(ranked) > 1 else [])
            grid_rows = []
            target_of = {it.target.stem: it.target for it in items}
            for r in picks:
                inp, res = thumbs[r["name"]]
                grid_rows.append([inp, res, thumbnail(read_image(target_of[r["name"]]).array)])
            write_image(work / "best_worst.png", image_grid(grid_rows), bits=8)
            title = (f"# Defocus deblurring — {data} ({split}, {len(rows)} images, {bits}-bit, "
                     f"LPIPS {lpips})\n\nModel: `{meta.get('name')}` from `{weights}`\n\n")
            (work / "eval_defocus.md").write_text(title + report["table"])
            write_json(work / "eval_defocus.json", report)
            for name in outputs:
                (work / name).replace(final_out / name)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not any(final_out.iterdir()):
            final_out.rmdir()  # an error left nothing: do not leave an empty folder either
