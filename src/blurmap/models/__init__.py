"""Networks, and a registry that rebuilds any of them from ``(name, config)``.

Weights files store the registry name and the constructor kwargs in their metadata, so
``build_model(name, **config)`` recreates the exact architecture before loading.

Inference convention (used by :mod:`blurmap.infer` and the CLI): a restoration model's
``forward(blurred)`` returns the restored image ``(B, 3, H, W)`` for any H, W (it pads
internally to its ``size_multiple``), and ``predict(blurred)`` returns a dict with
``"image"`` and, when the model has one, ``"map"`` (defocus map or blur mask, ``(B, 1, H, W)``).
A model with a map says which with a ``map_kind`` attribute: ``"mask"`` (blur probability in
[0, 1]; only these can be used with the background gate of :mod:`blurmap.infer`) or ``"coc"``
(signed circle-of-confusion radius in px).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from blurmap.registry import Registry

MODEL_REGISTRY: Registry[Callable[..., nn.Module]] = Registry("model", __name__)


def register_model(name: str):
    """Class decorator: make ``build_model(name, **config)`` construct this class."""
    return MODEL_REGISTRY.register(name)


def build_model(name: str, **config) -> nn.Module:
    """Construct a registered model by name with its constructor kwargs.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    return MODEL_REGISTRY.get(name)(**config)


def count_parameters(model: nn.Module) -> int:
    """Number of ALL parameters of ``model`` (trainable and frozen), as the papers count them.

    The one parameter count of the project: evaluation reports, model cards and tests use it.
    """
    return sum(p.numel() for p in model.parameters())


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return MODEL_REGISTRY.names()


