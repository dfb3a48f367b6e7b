"""Weights shipped inside the package, and the names that find them.

The ``.safetensors`` files in this folder are trained by the project's recipes (see the model
cards in ``docs/``) and installed with the package. Each file embeds its model name and
config (:mod:`blurmap.weights`), so the registry below only maps friendly names to files:

=========== =============================== =============== ===================================
alias       file                            model           what it does
=========== =============================== =============== ===================================
defocus     defocusgan_starter.safetensors  defocusgan      single-image defocus deblurring
local       bladenet_starter.safetensors    bladenet        local motion deblurring + blur mask
defocus-map defocus_map_starter.safetensors defocus_map_net signed defocus map from DP views
=========== =============================== =============== ===================================

A name resolves to a file by alias (``"defocus"``), by model name (``"defocusgan"``), or by
file name with or without the extension (``"defocusgan_starter"``); any other
``.safetensors`` file dropped into this folder is found by its file name or by the network
name in its metadata.
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
        bench_split: the in-distribution split of ``blurmap bench quality`` (scenes like the
            ones its recipe trained on; :data:`blurmap.bench.quality.SPLITS`).
    """

    alias: str
    filename: str
    model: str
    task: str
    card: str
    bench_split: str | None = None

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
        "docs/model-cards/defocusgan.md",
        "dp-bundled-6px",
    ),
    ShippedWeights(
        "local",
        "bladenet_starter.safetensors",
        "bladenet",
        "local motion deblurring with a blur mask (BladeNet + LBP)",
        "docs/model-cards/bladenet.md",
        "local-bundled",
    ),
    ShippedWeights(
        "defocus-map",
        "defocus_map_starter.safetensors",
        "defocus_map_net",
        "signed defocus map from dual-pixel views (DefocusMapNet)",
        "docs/model-cards/defocus-map.md",
        "dp-bundled-20px",
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
    files = shipped_files()
    for path in files:
        if name in (path.name, path.stem):
            return path
    # Finally by the network name stored in a file's metadata (e.g. "defocus_map_net").
    from blurmap.errors import BlurmapError
    from blurmap.weights import read_metadata

    for path in files:
        try:
            if read_metadata(path)["name"] == name:
                return path
        except BlurmapError:
            continue
    return None


def describe(path: str | Path) -> dict:
    """What a weights file holds, from its header (tensors are not loaded).

    Args:
        path: a ``.safetensors`` file written by :func:`blurmap.weights.save_weights`.

    Returns:
        dict with ``path``, ``name`` (model registry name), ``config`` (constructor kwargs),
        ``parameters`` (number of stored values), ``tensors`` (count), ``bytes`` (file size),
        ``sha256`` (hex digest of the file), ``blurmap_version`` and ``extra`` (training
        metadata: step, recipe, metrics, ...).

    Raises:
        WeightsError: missing file, not safetensors, or no blurmap metadata.
    """
    import hashlib
    import math

    from safetensors import safe_open

    from blurmap.weights import read_metadata

    path = Path(path)
    meta = read_metadata(path)
    n_values, n_tensors = 0, 0
    with safe_open(str(path), framework="pt") as fh:
        for key in fh.keys():
            n_tensors += 1
            n_values += math.prod(fh.get_slice(key).get_shape())
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {
        "path": str(path),
        "name": meta["name"],
        "config": meta["config"],
        "parameters": int(n_values),
        "tensors": n_tensors,
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "blurmap_version": meta.get("blurmap_version", ""),
        "extra": meta.get("extra", {}),
    }
