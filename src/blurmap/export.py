"""ONNX export of restoration models, with dynamic batch, height and width.

The exported graph wraps the model's ``predict`` (or ``forward``): input ``blurred``
``(B, 3, H, W)`` float32 sRGB in [0, 1] of any size; outputs ``image`` ``(B, 3, H, W)`` and,
when the model has one, ``map`` ``(B, 1, H, W)``. Padding to the model's ``size_multiple``
happens inside the graph with shape arithmetic that ONNX records (reflect padding, then a
crop back), so H and W are free.

We use torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): the
dynamo exporter needs ``onnxscript``, which blurmap does not depend on. The graph is
checked with ``onnx.checker`` and, by default, compared with the torch output in
onnxruntime on two input sizes (max abs difference must stay below ``tolerance``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blurmap.errors import BlurmapError
from blurmap.files import atomic_destination

DEFAULT_OPSET = 17


class _ExportWrapper(nn.Module):
    """``blurred -> (image[, map])`` with traceable padding to the model's multiple."""

    def __init__(self, model: nn.Module, multiple: int, has_map: bool):
        super().__init__()
        self.model = model
        self.multiple = int(multiple)
        self.has_map = has_map

    def forward(self, blurred: torch.Tensor):
        h, w = blurred.shape[-2], blurred.shape[-1]
        m = self.multiple
        x = blurred
        if m > 1:
            # In tracing h and w are 0-d tensors, so the pad sizes stay symbolic in the graph.
            ph = (m - h % m) % m
            pw = (m - w % m) % m
            x = F.pad(x, [0, pw, 0, ph], mode="reflect")
        if hasattr(self.model, "predict"):
            out = self.model.predict(x)
        else:
            out = {"image": self.model(x)}
        image = out["image"][..., :h, :w]
        if self.has_map:
            return image, out["map"][..., :h, :w]
        return image


def _has_map(model: nn.Module, side: int) -> bool:
    if not hasattr(model, "predict"):
        return False
    with torch.no_grad():
        return "map" in model.predict(torch.zeros(1, 3, side, side))


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    example_size: tuple[int, int] | None = None,
    verify: bool = True,
    tolerance: float = 1e-4,
    metadata: dict[str, str] | None = None,
) -> dict:
    """Export a restoration model to ONNX with dynamic ``B``, ``H`` and ``W``.

    Args:
        model: restoration network (inference convention of :mod:`blurmap.models`); exported
            in eval mode, float32, on CPU.
        path: output ``.onnx`` file (written atomically; its folder must exist).
        opset: ONNX opset (>= 17).
        example_size: ``(H, W)`` of the tracing input; default: twice the size multiple plus
            an odd remainder, so the padding path is traced.
        verify: run onnxruntime on two sizes and compare with torch.
        tolerance: largest allowed absolute difference in ``verify``.
        metadata: extra string key/values stored in the ONNX model's metadata_props.

    Returns:
        dict with ``"path"``, ``"outputs"`` (names) and, when verified, ``"max_abs_diff"``.

    Raises:
        BlurmapError: opset too old, export failure, or onnxruntime output off by more than
            ``tolerance`` (then no file is left).
    """
    import onnx

    if opset < 17:
        raise BlurmapError(f"opset {opset} is too old; use 17 or newer")
    path = Path(path)
    if not path.parent.is_dir():
        raise BlurmapError(f"{path}: output folder {path.parent} does not exist")
    model = model.eval().float().cpu().to(memory_format=torch.contiguous_format)
    multiple = max(1, int(getattr(model, "size_multiple", 1) or 1))
    side = max(16, multiple)
    has_map = _has_map(model, side)
    wrapper = _ExportWrapper(model, multiple, has_map).eval()
    if example_size is None:
        example_size = (2 * side + 3, 2 * side + 5)
    example = torch.rand(1, 3, *example_size)
    outputs = ["image", "map"] if has_map else ["image"]
    axes = {"blurred": {0: "batch", 2: "height", 3: "width"}}
    axes.update({name: {0: "batch", 2: "height", 3: "width"} for name in outputs})

    try:
        with atomic_destination(path) as tmp:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes
                torch.onnx.export(
                    wrapper,
                    (example,),
                    str(tmp),
                    input_names=["blurred"],
                    output_names=outputs,
                    dynamic_axes=axes,
                    opset_version=opset,
                    do_constant_folding=True,
                    dynamo=False,
                )
            proto = onnx.load(str(tmp))
            onnx.checker.check_model(proto)
            props = {"producer": "blurmap", "size_multiple": str(multiple), **(metadata or {})}
            for key, value in props.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = str(key), str(value)
            onnx.save(proto, str(tmp))
            result = {"path": str(path), "outputs": outputs}
            if verify:
                result["max_abs_diff"] = verify_onnx(wrapper, tmp, side=side, tolerance=tolerance)
        return result
    except BlurmapError:
        raise
    except Exception as ex:  # noqa: BLE001 - any exporter failure is reported in one line
        raise BlurmapError(f"ONNX export failed: {type(ex).__name__}: {str(ex).splitlines()[0] if str(ex) else ''}") from ex
    finally:
        tmp.unlink(missing_ok=True)


def verify_onnx(wrapper: nn.Module, onnx_path: str | os.PathLike, *, side: int, tolerance: float = 1e-4) -> float:
    """Compare onnxruntime with torch on two input sizes (one not a multiple of the model's).

    Returns:
        The largest absolute difference over all outputs and sizes.

    Raises:
        BlurmapError: the difference exceeds ``tolerance``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for h, w in [(side + 7, 2 * side + 1), (3 * side, side + 2)]:
        x = torch.rand(1, 3, h, w, generator=gen)
        with torch.no_grad():
            ref = wrapper(x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = session.run(None, {"blurred": x.numpy()})
        for r, g in zip(ref, got):
            if tuple(r.shape) != g.shape:
                raise BlurmapError(f"ONNX output shape {g.shape} differs from torch {tuple(r.shape)} at {h}x{w}")
            worst = max(worst, float(np.abs(r.numpy() - g).max()))
    if worst > tolerance:
        raise BlurmapError(f"ONNX output differs from torch by {worst:.2e} (> {tolerance:.0e})")
    return worst
