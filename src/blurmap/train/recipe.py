"""The recipe API: what a training method declares, and what the engine runs for it.

A **recipe** is a small class (one module under ``blurmap/train/recipes/``) that declares

- its config schema: a dataclass subclassing :class:`RecipeConfig` (validated by OmegaConf
  before training starts; the YAML file names the recipe with ``recipe: <name>``),
- its models (:meth:`Recipe.build_models`, preferably as :class:`ModelSpec` so the engine can
  export ``safetensors`` weights with the registry name and constructor kwargs),
- its optimizers and LR schedulers (plain ``torch.optim`` objects, keyed by name),
- its datasets, keyed by name (several are fine: ``{"reds": ..., "lbs": ...}``), and the
  per-sample training augmentation (:meth:`Recipe.train_transform`),
- its **phases** (:class:`Phase`): which models / sub-modules train, which losses are on,
  which dataset(s) feed the phase, for how many epochs or iterations, with optional
  alternation between sub-phases,
- ``step(batch, ctx)``: the losses of one micro-batch, and ``validate(batch, ctx)``.

The engine (:mod:`blurmap.train.engine`) owns everything else: the loop and the phase
schedule, device placement / DDP / mixed precision (HF Accelerate), gradient accumulation
and clipping, LR-scheduler stepping (once per global step), EMA, checkpoints and exact
resume, logging (TensorBoard, progress bar, text log), validation metrics and image grids.

Minimal recipe (the bundled ``tiny`` recipe in ``recipes/tiny.py`` is a complete one)::

    from dataclasses import dataclass, field
    import torch
    from blurmap.train.recipe import Phase, ModelSpec, Recipe, RecipeConfig, register_recipe
    from blurmap.train.data import Augment

    @dataclass
    class MyConfig(RecipeConfig):
        channels: int = 16
        lr: float = 1e-3
        epochs: int = 10

    @register_recipe("mine")
    class MyRecipe(Recipe):
        Config = MyConfig

        def build_models(self):
            return {"net": ModelSpec("tiny_unet", {"channels": self.cfg.channels})}

        def build_optimizers(self, models):
            return {"net": torch.optim.Adam(models["net"].parameters(), lr=self.cfg.lr)}

        def build_datasets(self):
            return {"train": MyDataset(...)}

        def train_transform(self, name):
            return Augment(crop=self.cfg.train.crop_size, rot_flip=True)

        def phases(self):
            return [Phase("main", epochs=self.cfg.epochs)]

        def step(self, batch, ctx):
            out = ctx.models["net"](batch["blur"])
            return {"loss": torch.nn.functional.l1_loss(out, batch["sharp"])}

        def validate(self, batch, ctx):
            out = ctx.models["net"](batch["blur"])
            return {"input": batch["blur"], "output": out, "target": batch["sharp"]}

Optimisation modes of ``step``:

- *automatic* (most recipes): return a dict whose ``"loss"`` entry is the total loss tensor
  and do not call ``ctx.backward``. The engine back-propagates it and steps every optimizer
  that owns a parameter trainable in the current phase.
- *manual* (GANs, several optimizers per step): call ``ctx.backward(loss)`` and
  ``ctx.optimizer_step(name)`` yourself, as often as needed; the engine then does neither.
  Both wrap Accelerate (mixed-precision scaling, DDP gradient sync, gradient accumulation:
  ``optimizer_step`` only really steps on the last micro-batch of an accumulation window) and
  ``optimizer_step`` clips gradients first when ``train.grad_clip`` is set. Use
  ``with ctx.frozen("D"):`` to keep gradients out of a model during a generator update.

Whatever the mode, every value of the returned dict is logged (tensors are detached and
averaged); keys starting with ``_`` are not logged.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Protocol, Sequence

import torch
from omegaconf import MISSING
from torch import nn

from blurmap.errors import ConfigError
from blurmap.registry import Registry

# ----------------------------------------------------------------------------- config schema


@dataclass
class TrainConfig:
    """Engine settings, the ``train:`` section of every recipe config.

    Sizes are per process: the global batch is ``batch_size * accum_steps * num_processes``.
    An *epoch* of a dataset is ``len(dataset) // global_batch`` optimizer steps (at least 1).
    """

    seed: int = 0
    batch_size: int = 8
    #: micro-batches accumulated per optimizer step (Accelerate gradient accumulation)
    accum_steps: int = 1
    #: random-crop side in px used by recipes through :class:`blurmap.train.data.Augment`
    crop_size: int = 256
    num_workers: int = 0
    #: "no" | "bf16" | "fp16" (fp16 needs CUDA). bf16 autocast is also fast on CPU.
    mixed_precision: str = "no"
    #: "auto" (CUDA if available) or "cpu"
    device: str = "auto"
    #: max global L2 norm of the gradients of each optimizer; None = no clipping
    grad_clip: Optional[float] = None
    #: decay of an exponential moving average of the weights; None = no EMA. When set, the EMA
    #: weights are used for validation and for the exported final weights.
    ema_decay: Optional[float] = None
    channels_last: bool = False
    #: wrap models with torch.compile (opt-in: slow start, fast steps on GPU)
    compile: bool = False
    #: how the optimizers apply their update: "default" (as the recipe built them: PyTorch's
    #: per-parameter loop on CPU), "foreach" (one multi-tensor op per update term) or "fused"
    #: (one fused kernel per parameter; Adam/AdamW/SGD/Adagrad, CPU and CUDA). Same update
    #: rule; "fused" rounds differently in the last bits. docs/benchmarks.md has the speed-ups.
    optimizer_impl: str = "default"
    #: torch.use_deterministic_algorithms(True) (bit-exact CPU resume needs no more than this)
    deterministic: bool = False
    #: text-log / TensorBoard scalar interval in optimizer steps
    log_every: int = 10
    #: validation interval in optimizer steps; 0 = only at the end
    val_every: int = 0
    #: how many validation samples go into the logged image grid
    val_images: int = 4
    #: validation batch size (1 allows images of different sizes)
    val_batch_size: int = 1
    #: checkpoint interval in optimizer steps (a checkpoint is also written at the end)
    checkpoint_every: int = 1000
    #: how many checkpoints to keep (older ones are deleted)
    keep_checkpoints: int = 3
    #: "auto" (rich bar on a TTY, plain lines otherwise), "rich", "plain" or "none"
    progress: str = "auto"
    #: fine-tune: ``{model: weights.safetensors}`` loaded into the recipe's models before the
    #: first step (e.g. ``train.init_from.f=runs/a/final/f.safetensors``). The file must hold
    #: the same registry name and config as the recipe builds. A resumed run ignores it (its
    #: checkpoint has newer weights).
    init_from: Dict[str, str] = field(default_factory=dict)
    #: wall-clock budget in minutes (None = none): once it is spent the run checkpoints, validates
    #: and exports its final weights at the current step, and the same command later continues
    #: from there. The schedule (learning rates, phases) is still the one of the full length.
    max_minutes: Optional[float] = None


@dataclass
class RecipeConfig:
    """Base of every recipe's config schema. Subclass it and add the recipe's own fields.

    Top-level YAML keys are ``recipe`` (registry name), ``out`` (run directory), ``train``
    (:class:`TrainConfig`) and the recipe's own fields.
    """

    recipe: str = MISSING
    #: run directory (checkpoints, logs, resolved config, final weights)
    out: str = "runs/${recipe}"
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- phases


@dataclass(frozen=True)
class Phase:
    """One stage of training.

    Give exactly one length: ``epochs`` (may be fractional; measured on the phase's first
    dataset, or for an alternating phase on its first sub-phase's first dataset), ``iters``
    (optimizer steps) or, for an alternating phase, ``cycles`` (full passes through the
    sub-phases). An epoch of a dataset is ``len(dataset) // global_batch`` optimizer steps
    (at least 1); a phase's length is rounded to whole steps.

    Args:
        name: shown in logs, TensorBoard (``phase`` scalar = index) and checkpoints.
        epochs / iters / cycles: the length (see above).
        train: what trains: model names (``"net"``) or dotted sub-module paths inside a model
            (``"net.encoder"``). Everything else is frozen (``requires_grad=False``); models
            with nothing trainable are put in ``eval()`` mode. ``None`` = every model trains.
        losses: free-form names of the loss terms that are on; ``step`` reads them with
            ``ctx.loss_on("adv")``.
        data: name of the dataset feeding this phase, or a tuple of names; with a tuple the
            batch given to ``step`` is ``{name: batch}`` (one micro-batch of each).
        alternate: sub-phases to cycle through, in order, until this phase's length is used
            up (the last one may be cut short). Sub-phases define their own ``train`` /
            ``losses`` / ``data`` and a length in ``epochs`` or ``iters``. Their full name is
            ``"<parent>/<child>"``.
        options: anything else the recipe wants to read in ``step`` (``ctx.phase.options``).

    Examples (the papers' schedules)::

        # defocus-map net f alone for 10 epochs, then f and kernel g alternate every 5
        Phase("f_only", epochs=10, train=("f",)),
        Phase("alternate", epochs=40, alternate=(
            Phase("f", epochs=5, train=("f",)), Phase("g", epochs=5, train=("g",)))),
        # GAN: generator warm-up, then discriminator + adversarial term on
        Phase("warmup", iters=5000, train=("G",), losses=("l1", "perceptual")),
        Phase("gan", iters=100000, train=("G", "D"), losses=("l1", "perceptual", "adv")),
        # BladeNet: LBP alone, alternating half-epochs of REDS and LBS, then joint
        Phase("lbp", epochs=20, train=("net.lbp",), losses=("bce",), data="lbs"),
        Phase("alt", cycles=40, alternate=(
            Phase("reds", epochs=0.5, data="reds", losses=("l1",)),
            Phase("lbs", epochs=0.5, data="lbs", losses=("l1", "bce")))),
        Phase("joint", epochs=10, data=("reds", "lbs")),
    """

    name: str
    epochs: Optional[float] = None
    iters: Optional[int] = None
    cycles: Optional[int] = None
    train: Optional[tuple[str, ...]] = None
    losses: tuple[str, ...] = ()
    data: str | tuple[str, ...] = "train"
    alternate: tuple["Phase", ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        given = [k for k in ("epochs", "iters", "cycles") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"phase {self.name!r}: give exactly one of epochs/iters/cycles, got {given}")
        if self.cycles is not None and not self.alternate:
            raise ValueError(f"phase {self.name!r}: cycles needs alternate sub-phases")
        for sub in self.alternate:
            if sub.alternate:
                raise ValueError(f"phase {self.name!r}: sub-phase {sub.name!r} cannot alternate again")
            if sub.cycles is not None:
                raise ValueError(f"sub-phase {sub.name!r}: give epochs or iters")
        # tuples keep the dataclass hashable / immutable even if lists were passed
        if self.train is not None and not isinstance(self.train, tuple):
            object.__setattr__(self, "train", tuple(self.train))
        if not isinstance(self.losses, tuple):
            object.__setattr__(self, "losses", tuple(self.losses))
        if isinstance(self.data, list):
            object.__setattr__(self, "data", tuple(self.data))
        if not isinstance(self.alternate, tuple):
            object.__setattr__(self, "alternate", tuple(self.alternate))

    @property
    def data_names(self) -> tuple[str, ...]:
        """The dataset name(s) as a tuple."""
        return (self.data,) if isinstance(self.data, str) else tuple(self.data)


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """A model to build with :func:`blurmap.models.build_model` (``name`` = registry name).

    Declaring models this way lets the engine export them as ``safetensors`` with the
    registry name and constructor kwargs in the metadata (``blurmap.weights.load_network``
    rebuilds them). A recipe may also return a ready ``nn.Module``; it is then exported under
    its ``registry_name`` (if registered) with ``getattr(module, "init_kwargs", {})``.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- step context


class StepContext(Protocol):
    """What ``Recipe.step`` / ``Recipe.validate`` receive as ``ctx`` (built by the engine).

    Attributes:
        models: ``{name: module}`` as prepared by Accelerate (DDP-wrapped when distributed;
            call them normally). Models with nothing to train in the current phase are the
            bare modules (in eval mode). ``ctx.unwrap(name)`` always gives the bare module.
        accelerator: the ``accelerate.Accelerator`` (escape hatch; prefer the methods below).
        phase: the current leaf :class:`Phase` (a sub-phase while alternating).
        phase_name: full name, e.g. ``"alternate/g"``.
        step: global optimizer step (0-based, the step being computed).
        total_steps: optimizer steps of the whole run.
        phase_step / phase_steps: step inside the current top-level phase and its length;
            ``phase_progress = phase_step / phase_steps`` in [0, 1) (for annealing weights).
        epoch: fractional epoch of the dataset feeding the current phase.
        device: torch device of this process.
        cfg: the recipe's validated config object.
        is_main_process / num_processes: distributed info.
    """

    models: Mapping[str, nn.Module]
    phase: Phase
    phase_name: str
    step: int
    total_steps: int
    phase_step: int
    phase_steps: int
    epoch: float
    device: torch.device
    cfg: Any
    is_main_process: bool
    num_processes: int

    @property
    def phase_progress(self) -> float: ...

    def unwrap(self, name: str) -> nn.Module: ...

    def loss_on(self, name: str) -> bool:
        """True when loss term ``name`` is listed in the current phase's ``losses``."""

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """``accelerator.backward`` (scales for mixed precision and accumulation)."""

    def optimizer_step(self, name: str) -> bool:
        """Clip (``train.grad_clip``), step and zero-grad optimizer ``name``.

        Returns True when it really stepped (False on non-final accumulation micro-batches)."""

    def zero_grad(self, name: str) -> None: ...

    def frozen(self, *models: str) -> AbstractContextManager:
        """Context manager: inside it the named models' parameters get no gradients and
        ``ctx.models[name]`` is the bare (non-DDP) module; gradients still flow through it
        to its inputs (use it for a discriminator's forward in the generator loss)."""

    def autocast(self) -> AbstractContextManager:
        """Mixed-precision autocast of the run (the engine already wraps ``step`` in it)."""


# ----------------------------------------------------------------------------- recipe base

#: Per-sample transform: ``(sample dict of CHW tensors, torch.Generator) -> sample``. The
#: generator is seeded per sample by the engine, so augmentation is reproducible and resume
#: is exact. See :mod:`blurmap.train.data` for ``Augment``, ``random_crop``, ``rot_flip``.
Transform = Callable[[dict, torch.Generator], dict]


class Recipe:
    """Base class of a training method. Subclass, set ``Config``, register with
    :func:`register_recipe`. ``self.cfg`` is the validated config (an instance of ``Config``).

    The engine calls, in order: ``build_models``, ``build_optimizers(models)``,
    ``build_schedulers(optimizers, total_steps)``, ``build_datasets``,
    ``build_val_datasets``, ``phases``; then per micro-batch ``step(batch, ctx)``, and per
    validation batch ``validate(batch, ctx)``. Everything returned must be deterministic
    given ``cfg`` (the engine seeds torch / numpy / random with ``train.seed`` first).
    """

    #: the recipe's config schema (a :class:`RecipeConfig` subclass)
    Config: ClassVar[type] = RecipeConfig
    #: registry name, set by :func:`register_recipe`
    name: ClassVar[str] = ""

    def __init__(self, cfg):
        self.cfg = cfg

    # --- declarations -------------------------------------------------------------------
    def build_models(self) -> dict[str, ModelSpec | nn.Module]:
        """Return ``{name: ModelSpec | nn.Module}``."""
        raise NotImplementedError

    def build_optimizers(self, models: Mapping[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        """Return ``{name: optimizer}`` built on the (bare, device-less) ``models``' params."""
        raise NotImplementedError

    def build_schedulers(
        self, optimizers: Mapping[str, torch.optim.Optimizer], total_steps: int
    ) -> dict[str, Any]:
        """Return ``{name: LR scheduler}``; each is stepped once per global optimizer step."""
        return {}

    def build_datasets(self) -> dict[str, torch.utils.data.Dataset]:
        """Return the training datasets by name (map-style, with ``__len__``; each item a dict
        of CHW float tensors). On-the-fly synthetic datasets define ``__len__`` as their
        virtual epoch size."""
        raise NotImplementedError

    def train_transform(self, name: str) -> Optional[Transform]:
        """Per-sample augmentation for training dataset ``name`` (None = none)."""
        return None

    def build_val_datasets(self) -> dict[str, torch.utils.data.Dataset]:
        """Validation datasets by name (items not augmented). Default: none."""
        return {}

    def phases(self) -> Sequence[Phase]:
        """The training schedule. Default: one phase of ``cfg.epochs`` epochs if present."""
        epochs = getattr(self.cfg, "epochs", None)
        if epochs is None:
            raise NotImplementedError("recipe must define phases() or a cfg.epochs field")
        return [Phase("main", epochs=epochs)]

    # --- work -----------------------------------------------------------------------------
    def step(self, batch: dict, ctx: StepContext) -> dict[str, Any]:
        """Losses of one micro-batch (see the module docstring for automatic/manual modes)."""
        raise NotImplementedError

    def validate(self, batch: dict, ctx: StepContext) -> dict[str, Any]:
        """One validation batch, models in eval mode under ``torch.no_grad``.

        Return any of: ``"output"`` and ``"target"`` (``(B,3,H,W)`` in [0,1]: the engine
        computes PSNR / SSIM with :mod:`blurmap.metrics`), ``"input"`` and ``"map"``
        (``(B,1,H,W)``, normalised to [0,1] for display) for the image grid
        (input | output | target | map), and ``"metrics"``: ``{name: float}`` of extra
        per-batch metrics (averaged over batches).
        """
        return {}


# ----------------------------------------------------------------------------- registry

RECIPE_REGISTRY: Registry[type[Recipe]] = Registry(
    "recipe", "blurmap.train.recipes", attribute="name", error=ConfigError, known="known recipes"
)


def register_recipe(name: str):
    """Class decorator: make ``recipe: <name>`` in a config select this recipe."""
    return RECIPE_REGISTRY.register(name)


def available_recipes() -> list[str]:
    """Names accepted as ``recipe:`` in a config."""
    return RECIPE_REGISTRY.names()


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class registered as ``name``; raises ``ConfigError`` listing known names."""
    return RECIPE_REGISTRY.get(name)
