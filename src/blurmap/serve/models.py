"""The models a server holds: loaded once at start-up through :mod:`blurmap.api`.

``--models`` names them: a shipped name (``defocus``, ``local``, ``defocus-map``, as
``blurmap weights list`` shows) or ``NAME=PATH`` for a weights file of your own under a name
of your choice (``--models local,mine=runs/x/best.safetensors``). What a model can do follows
from the network its weights hold:

=================== =========================================== ===============================
network             task                                        endpoints
=================== =========================================== ===============================
``bladenet``, lbp   local (motion) deblurring, with a blur mask ``/v1/deblur`` (``gate`` too),
                                                                ``/v1/blur-mask``
``defocusgan``      single-image defocus deblurring             ``/v1/deblur``
``defocus_map_net`` signed defocus map from dual-pixel views    ``/v1/defocus-map``
other deblurrers    deblurring                                  ``/v1/deblur``
=================== =========================================== ===============================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from blurmap.errors import BlurmapError

DEFAULT_MODELS = ("defocus", "local", "defocus-map")

_TASKS = {
    "bladenet": "local motion deblurring with a blur mask",
    "lbp": "local blur mask",
    "defocusgan": "single-image defocus deblurring",
    "defocus_map_net": "signed defocus map from dual-pixel views",
}


@dataclass
class ServedModel:
    """One model of the server.

    Attributes:
        name: what clients call it (the ``model`` form field).
        network: registry name of the network in the weights (``bladenet``, ...).
        path: the weights file.
        metadata: the file's description (:func:`blurmap.weights_data.describe`).
        deblurrer: the loaded :class:`blurmap.infer.Deblurrer` (``None`` for defocus-map nets,
            which :func:`blurmap.api.estimate_defocus_map` runs from ``path``).
    """

    name: str
    network: str
    path: Path
    metadata: dict
    deblurrer: object | None = None
    _by_precision: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_defocus_map(self) -> bool:
        return self.deblurrer is None

    @property
    def map_kind(self) -> str | None:
        """``"mask"`` (blur probability), ``"coc"`` (signed px) or ``None`` (no map)."""
        if self.is_defocus_map:
            return "coc"
        from blurmap.api import map_kind

        return map_kind(self.deblurrer) if self.deblurrer.has_map else None

    @property
    def has_mask(self) -> bool:
        return self.map_kind == "mask"

    @property
    def can_gate(self) -> bool:
        return not self.is_defocus_map and bool(getattr(self.deblurrer, "can_gate", self.has_mask))

    def endpoints(self) -> list[str]:
        if self.is_defocus_map:
            return ["/v1/defocus-map"]
        return ["/v1/deblur"] + (["/v1/blur-mask"] if self.has_mask else [])

    def at_precision(self, precision: str):
        """The deblurrer at ``precision``; one per precision, all sharing the loaded network.

        Raises:
            BlurmapError: an unknown precision, or fp16 on a CPU server.
        """
        if precision == self.deblurrer.precision:
            return self.deblurrer
        with self._lock:
            if precision not in self._by_precision:
                from blurmap.infer import Deblurrer

                d = self.deblurrer
                self._by_precision[precision] = Deblurrer(
                    d.model, name=d.name, device=d.device, precision=precision, tile=d.tile, overlap=d.overlap,
                    channels_last=d.channels_last, metadata=d.metadata,
                )
            return self._by_precision[precision]

    def describe(self) -> dict:
        """What ``GET /v1/models`` says about this model."""
        from blurmap import weights_data

        entry = weights_data.find_entry(self.network)
        shipped = entry is not None and entry.path.resolve() == self.path.resolve()
        info = {
            "name": self.name,
            "network": self.network,
            "task": entry.task if shipped else _TASKS.get(self.network, "deblurring"),
            "endpoints": self.endpoints(),
            "parameters": self.metadata["parameters"],
            "map": self.map_kind,
            "gate": self.can_gate,
            "card": {
                "document": entry.card if shipped else None,
                "weights": self.path.name,
                "sha256": self.metadata["sha256"],
                "config": self.metadata["config"],
                "training": self.metadata.get("extra", {}),
            },
        }
        return info


def parse_model_specs(spec: str | list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``"defocus,local,mine=w.safetensors"`` -> ``[("defocus", "defocus"), ..., ("mine", "w.safetensors")]``.

    Raises:
        BlurmapError: an empty list, an empty name, or a name given twice.
    """
    items = spec.split(",") if isinstance(spec, str) else [i for s in spec for i in s.split(",")]
    pairs: list[tuple[str, str]] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, source = item.partition("=")
        name, source = name.strip(), (source.strip() or name.strip())
        if not name:
            raise BlurmapError(f"--models entry {item!r} has no name (use NAME or NAME=PATH)")
        if any(name == n for n, _ in pairs):
            raise BlurmapError(f"--models names {name!r} twice")
        pairs.append((name, source))
    if not pairs:
        raise BlurmapError("--models needs at least one model (e.g. defocus,local,defocus-map)")
    return pairs


def load_models(spec=DEFAULT_MODELS, *, device: str | None = "cpu") -> dict[str, ServedModel]:
    """Load the models ``spec`` names (see :func:`parse_model_specs`), in order.

    Raises:
        BlurmapError / WeightsError: a name that is no shipped model and no file, weights that
            are not safetensors, a device that is not there; one line naming the entry.
    """
    from blurmap import api, weights_data

    models: dict[str, ServedModel] = {}
    for name, source in parse_model_specs(spec):
        try:
            path = api.resolve_weights(source)
            network, _ = api.weights_model_name(path)
            metadata = weights_data.describe(path)
            if network in api.NOT_DEBLURRERS:
                api.resolve_defocus_map_weights(path)  # the same check the CLI and the API use
                models[name] = ServedModel(name, network, path, metadata)
            else:
                models[name] = ServedModel(name, network, path, metadata, api.load_model(path, device=device))
        except BlurmapError as err:
            raise BlurmapError(f"--models {name}: {err}") from None
    return models
