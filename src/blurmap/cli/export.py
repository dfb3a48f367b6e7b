"""``blurmap export --weights W --format onnx -o OUT.onnx``."""

from __future__ import annotations

from pathlib import Path

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError


@app.command("export")
def export_command(
    weights: str = typer.Option(..., "--weights", help="Weights file (.safetensors) or shipped name (defocus, local)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .onnx file."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (17 or newer)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Compare onnxruntime with torch after export."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Export a model to ONNX with dynamic batch, height and width."""
    from blurmap import api
    from blurmap.export import export_onnx

    if fmt != "onnx":
        raise BlurmapError(f"unsupported --format {fmt!r}; only onnx is available")
    if output.exists() and not overwrite:
        raise BlurmapError(f"{output}: already exists (use --overwrite to replace it)")
    model = api.load_model(weights)
    result = export_onnx(
        model.model,
        output,
        opset=opset,
        verify=verify,
        metadata={"model": model.name, "weights": Path(model.metadata["path"]).name},
    )
    line = f"wrote {output} ({model.name}; outputs: {', '.join(result['outputs'])}; dynamic B, H, W; opset {opset})"
    if "max_abs_diff" in result:
        line += f"; onnxruntime vs torch max |diff| = {result['max_abs_diff']:.1e}"
    typer.echo(line)
