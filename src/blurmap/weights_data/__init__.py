"""Weights shipped inside the package, and the names that find them.

The ``.safetensors`` files in this folder are trained by the project's recipes (see the model
cards in ``docs/``) and installed with the package. Each file embeds its model name and
config (:mod:`blurmap.weights`), so the registry below only maps friendly names to files:

========== ================================== ============= =========================
alias      file                               model         what it does
========== ================================== ============= =========================
defocus    defocusgan_starter.safetensors     defocusgan    single-image defocus deblurring
local      bladenet_starter.safetensors       bladenet      local motion deblurring + blur mask
========== ================================== ============= =========================

A name resolves to a file by alias (``"defocus"``), by model name (``"defocusgan"``), or by
file name with or without the extension (``"defocusgan_starter"``); any other
``.safetensors`` file dropped into this folder is found by its file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ShippedWeights:
    """One entry of the registry.

    Attributes:
        alias: short name used by ``blurmap deblur --model`` and :func:`blurmap.load_model`.
        filename: file inside :data:`WEIGHTS_DIR`.
        model: registry name of the network (:func:`blurmap.models.build_model`).
        task: what the weights do, one line.
        card: the model card in the docs.
    """

    alias: str
    filename: str
    model: str
    task: str
    card: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.filename

    @property
    def available(self) -> bool:
        return self.path.is_file()


SHIPPED: tuple[ShippedWeights, ...] = (
    ShippedWeights(
        "defocus",
        "defocusgan_starter.safetensors",
        "defocusgan",
        "single-image defocus deblurring (DefocusGAN generator)",
        "docs/model-card-defocusgan.md",
    ),
    ShippedWeights(
        "local",
        "bladenet_starter.safetensors",
        "bladenet",
        "local motion deblurring with a blur mask (BladeNet + LBP)",
        "docs/model-card-bladenet.md",
    ),
)


def find_entry(name: str) -> ShippedWeights | None:
    """The registry entry whose alias, model name or file name is ``name`` (None if none)."""
    for entry in SHIPPED:
        stem = entry.filename.removesuffix(".safetensors")
        if name in (entry.alias, entry.model, entry.filename, stem):
            return entry
    return None


def shipped_files() -> list[Path]:
    """Every ``.safetensors`` file in :data:`WEIGHTS_DIR`, sorted by name."""
    return sorted(WEIGHTS_DIR.glob("*.safetensors"))


def resolve(name: str) -> Path | None:
    """Path of the shipped file ``name`` refers to, or None when nothing matches on disk.

    Args:
        name: alias, model name, or file name (with or without ``.safetensors``).
    """
    entry = find_entry(name)
    if entry is not None:
        return entry.path if entry.available else None
    for path in shipped_files():
        if name in (path.name, path.stem):
            return path
    return None
