"""The training engine: runs any registered recipe with HF Accelerate.

``train(loaded_config, out=None, resume=None)`` builds the recipe's models, optimizers,
schedulers, datasets and phases, then loops over optimizer steps. It owns: device placement,
DDP and mixed precision (Accelerate), gradient accumulation and clipping, LR-scheduler
stepping (once per global step), EMA, per-phase freezing, checkpoints (atomic, checksummed,
keep-last-K) and exact resume, logging, validation and the export of final weights.

Exact resume: the global RNGs are re-seeded at every optimizer step from
``(seed, rank, step)``, data order and per-sample augmentation depend only on the stream
positions (see :mod:`blurmap.train.sampling`), and models / optimizers / schedulers / EMA /
grad scaler come from the checkpoint. A run killed after a checkpoint and resumed therefore
ends with the same weights as an uninterrupted run (bit-for-bit on CPU, same world size).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from blurmap import __version__
from blurmap.errors import ConfigError, WeightsError
from blurmap.files import write_text_atomic
from blurmap.train.checkpoint import CheckpointWarning, list_checkpoints, load_latest_checkpoint, save_checkpoint
from blurmap.train.config import LoadedConfig
from blurmap.train.ema import EMA
from blurmap.train.monitor import Monitor, image_grid
from blurmap.train.optim import set_optimizer_impl
from blurmap.train.recipe import ModelSpec, Phase
from blurmap.train.sampling import derive_seed, make_stream_loader, seed_everything
from blurmap.train.schedule import Segment, build_schedule, locate

CHECKPOINT_FORMAT = 1


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        step: optimizer steps done (= total steps when finished).
        total_steps: steps of the whole schedule.
        resumed_from: checkpoint the run continued from, or None.
        final_weights: ``{model: path}`` of the exported ``RUN/final/<model>.safetensors``.
        history: ``[(step, {scalar: value})]`` logged every ``train.log_every`` steps.
        val_metrics: the last validation's metrics.
    """

    run_dir: Path
    step: int
    total_steps: int
    resumed_from: Optional[Path] = None
    final_weights: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    val_metrics: dict = field(default_factory=dict)


class Context:
    """The ``ctx`` given to ``Recipe.step`` / ``Recipe.validate`` (see ``recipe.StepContext``)."""

    def __init__(self, accelerator, models, bare, optimizers, cfg, grad_clip, total_steps):
        self.accelerator = accelerator
        self.models: Mapping[str, nn.Module] = models
        self._bare = bare
        self._optimizers = optimizers
        self.cfg = cfg
        self._grad_clip = grad_clip
        self.total_steps = total_steps
        self.device = accelerator.device
        self.is_main_process = accelerator.is_main_process
        self.num_processes = accelerator.num_processes
        self.phase: Optional[Phase] = None
        self.phase_name = ""
        self.step = 0
        self.phase_step = 0
        self.phase_steps = 1
        self.epoch = 0.0
        self.manual = False
        self.stepped: set[str] = set()

    @property
    def phase_progress(self) -> float:
        return self.phase_step / max(1, self.phase_steps)

    def unwrap(self, name: str) -> nn.Module:
        return self._bare[name]

    def loss_on(self, name: str) -> bool:
        return self.phase is not None and name in self.phase.losses

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        self.manual = True
        self.accelerator.backward(loss, **kwargs)

    def optimizer_step(self, name: str) -> bool:
        if name not in self._optimizers:
            raise KeyError(f"unknown optimizer {name!r}; optimizers: {', '.join(self._optimizers)}")
        self.manual = True
        if not self.accelerator.sync_gradients:
            return False
        opt = self._optimizers[name]
        if self._grad_clip is not None:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            if params:
                self.accelerator.clip_grad_norm_(params, self._grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        self.stepped.add(name)
        return True

    def zero_grad(self, name: str) -> None:
        self._optimizers[name].zero_grad(set_to_none=True)

    @contextlib.contextmanager
    def frozen(self, *names: str):
        # Inside, ctx.models[name] is the bare module: gradients still flow through it to its
        # inputs, but a DDP wrapper would see a second forward without parameter gradients.
        saved, swapped = [], {}
        for n in names:
            for p in self._bare[n].parameters():
                saved.append((p, p.requires_grad))
                p.requires_grad_(False)
            swapped[n] = self.models[n]
            self.models[n] = self._bare[n]
        try:
            yield
        finally:
            for p, flag in saved:
                p.requires_grad_(flag)
            self.models.update(swapped)

    def autocast(self):
        return self.accelerator.autocast()


# --------------------------------------------------------------------------------- helpers


def _to_device(batch: Any, device: torch.device, channels_last: bool) -> Any:
    if torch.is_tensor(batch):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: _to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device, channels_last) for v in batch)
    return batch


def _scalar(v: Any) -> Optional[float]:
    if torch.is_tensor(v):
        return float(v.detach().float().mean())
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return None


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _set_trainable(phase: Phase, bare: Mapping[str, nn.Module]) -> set[str]:
    """Freeze everything except ``phase.train``; returns the names of models with trainable params."""
    if phase.train is None:
        for m in bare.values():
            m.requires_grad_(True)
        return set(bare)
    for m in bare.values():
        m.requires_grad_(False)
    for item in phase.train:
        model_name, _, sub = item.partition(".")
        if model_name not in bare:
            raise ConfigError(f"phase {phase.name!r} trains {item!r}: no model {model_name!r}; models: {', '.join(bare)}")
        try:
            module = bare[model_name].get_submodule(sub) if sub else bare[model_name]
        except AttributeError:
            raise ConfigError(f"phase {phase.name!r} trains {item!r}: model {model_name!r} has no sub-module {sub!r}") from None
        module.requires_grad_(True)
    return {n for n, m in bare.items() if any(p.requires_grad for p in m.parameters())}


def _model_spec_meta(name: str, spec: Any, module: nn.Module) -> Optional[dict]:
    if isinstance(spec, ModelSpec):
        return {"name": spec.name, "config": dict(spec.kwargs)}
    registry = getattr(module, "registry_name", None)
    if registry is None:
        return None
    return {"name": registry, "config": dict(getattr(module, "init_kwargs", {}))}


def _as_json(config: Mapping) -> Any:
    import json

    return json.loads(json.dumps(dict(config), default=str))  # tuples vs lists: compare as stored


def _init_from(init_from: dict, bare: dict[str, nn.Module], specs: dict[str, dict]) -> None:
    """Load ``train.init_from`` weights into the freshly built models (strict, same config)."""
    from blurmap.weights import load_weights

    for name, path in init_from.items():
        if name not in bare:
            raise ConfigError(f"train.init_from: the recipe has no model {name!r}; its models: {', '.join(bare)}")
        spec = specs.get(name)
        state, meta = load_weights(path, expected_name=spec["name"] if spec else None)
        if spec is not None and _as_json(meta["config"]) != _as_json(spec["config"]):
            raise WeightsError(f"{path}: built with config {meta['config']}, but the recipe builds "
                               f"{spec['name']!r} with {spec['config']}")
        try:
            bare[name].load_state_dict(state, strict=True)
        except RuntimeError as ex:
            raise WeightsError(f"{path}: weights do not fit model {name!r} ({str(ex).splitlines()[0]})") from None


# --------------------------------------------------------------------------------- engine


def train(loaded: LoadedConfig, out: str | Path | None = None, resume: Optional[bool] = None) -> TrainResult:
    """Run (or resume) the recipe of a validated config.

    Args:
        loaded: from :func:`blurmap.train.config.load_config`.
        out: run directory (default: the config's ``out``).
        resume: True = continue from the newest valid checkpoint (fresh start if none);
            False = refuse a run directory that already has checkpoints; None (default) =
            resume when the run directory has checkpoints.

    Returns:
        :class:`TrainResult`.

    Raises:
        ConfigError: bad settings found while building (unknown dataset in a phase, fp16
            without CUDA, ``--no-resume`` on a run directory with checkpoints, ...).
    """
    cfg, t = loaded.cfg, loaded.cfg.train
    run_dir = Path(out) if out is not None else Path(cfg.out)
    if t.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision=fp16 needs CUDA; use bf16 (fast on recent CPUs) or no")
    existing = list_checkpoints(run_dir)
    if resume is False and existing:
        raise ConfigError(f"{run_dir}: run directory already has checkpoints ({existing[-1].name}); "
                          "resume it (--resume) or choose another --out")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if t.deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        return _train(loaded, run_dir, resume, existing)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(loaded: LoadedConfig, run_dir: Path, resume: Optional[bool], existing: list) -> TrainResult:
    return Trainer(loaded, run_dir, resume, existing).run()


class Trainer:
    """One training run: builds what the recipe declares, resumes, and runs the segments.

    The stages are methods so each can be read (and tested) on its own; :func:`train` is the
    entry point. State shared between the stages lives on the instance.
    """

    def __init__(self, loaded: LoadedConfig, run_dir: Path, resume: Optional[bool], existing: list):
        self.loaded, self.cfg, self.t = loaded, loaded.cfg, loaded.cfg.train
        self.run_dir = run_dir
        self.resuming = resume is not False and bool(existing)
        self._build()
        self._prepare()
        self.start_step, self.resumed_from, skipped = self._resume()
        self._open_monitor(skipped)

    # --- build what the recipe declares (same seed on every process: identical init) ----------
    def _build(self) -> None:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        cfg, t = self.cfg, self.t
        seed_everything(t.seed)
        recipe = self.recipe = self.loaded.recipe_cls(cfg)
        declared = recipe.build_models()
        phases = list(recipe.phases())
        leaves = [sub for p in phases for sub in (p.alternate or (p,))]
        # DDP must tolerate parameters without gradients when phases freeze parts of the models or
        # several models take turns (GANs); otherwise skip the extra autograd traversal.
        find_unused = len(declared) > 1 or any(p.train is not None for p in leaves)
        if t.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but CUDA is not available; use auto or cpu")
        # One process may run several trainings (tests, notebooks) with different precision or
        # accumulation: start from a fresh Accelerate state (the process group, if any, stays).
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
        self.accelerator = Accelerator(
            # Accelerate only detects a multi-process CPU launch (torchrun, gloo) with cpu=True
            cpu=t.device == "cpu" or not torch.cuda.is_available(),
            mixed_precision=t.mixed_precision,
            gradient_accumulation_steps=t.accum_steps,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused)],
        )
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.main = self.accelerator.is_main_process
        self.bare: dict[str, nn.Module] = {}
        self.specs: dict[str, dict] = {}
        from blurmap.models import build_model

        for name, spec in declared.items():
            module = build_model(spec.name, **dict(spec.kwargs)) if isinstance(spec, ModelSpec) else spec
            if t.channels_last:
                module = module.to(memory_format=torch.channels_last)
            self.bare[name] = module
            meta = _model_spec_meta(name, spec, module)
            if meta is not None:
                self.specs[name] = meta
        if t.init_from and not self.resuming:
            _init_from(t.init_from, self.bare, self.specs)
        self.optimizers = dict(recipe.build_optimizers(self.bare))
        for name, opt in self.optimizers.items():
            set_optimizer_impl(opt, t.optimizer_impl, name)
        self.datasets = dict(recipe.build_datasets())
        self.val_sets = dict(recipe.build_val_datasets())
        self.global_batch = t.batch_size * self.world * t.accum_steps
        self.steps_per_epoch = {n: max(1, len(ds) // self.global_batch) for n, ds in self.datasets.items()}
        self.segments = build_schedule(phases, self.steps_per_epoch, t.accum_steps, where=f"recipe {recipe.name!r}")
        self.total = self.segments[-1].stop
        self.schedulers = dict(recipe.build_schedulers(self.optimizers, self.total))
        self.emas = {n: EMA(m, t.ema_decay) for n, m in self.bare.items()} if t.ema_decay is not None else {}

    # --- Accelerate: device, DDP, mixed precision ------------------------------------------------
    def _prepare(self) -> None:
        accelerator, t = self.accelerator, self.t
        self.models: dict[str, nn.Module] = {}
        for name, module in self.bare.items():
            if any(p.requires_grad for p in module.parameters()):
                self.models[name] = accelerator.prepare_model(module)
            else:  # DDP refuses modules without trainable parameters
                self.models[name] = module.to(accelerator.device)
            if t.compile:
                self.models[name] = torch.compile(self.models[name])
        for e in self.emas.values():
            e.model.to(accelerator.device)
        self.opts = {n: accelerator.prepare_optimizer(o) for n, o in self.optimizers.items()}

    # --- resume ----------------------------------------------------------------------------------
    def _resume(self) -> tuple[int, Optional[Path], list[str]]:
        """``(start step, checkpoint resumed from or None, warning lines for train.log)``."""
        start_step, resumed_from = 0, None
        if not self.resuming:
            return start_step, resumed_from, []
        run_dir, t = self.run_dir, self.t
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CheckpointWarning)
            resumed_from, state = load_latest_checkpoint(run_dir)
        for w in caught:  # re-emit on every process's caller, and remember for train.log
            warnings.warn(w.message, w.category, stacklevel=2)
        skipped = [str(w.message) for w in caught]
        if state is not None:
            start_step = _restore(state, self.bare, self.opts, self.schedulers, self.emas, self.accelerator,
                                  self.world, run_dir)
            for name, opt in self.optimizers.items():  # the checkpoint's param groups carry the old flags
                set_optimizer_impl(opt, t.optimizer_impl, name)
            if state.get("config") != self.loaded.to_yaml():
                msg = f"{run_dir}: the config differs from the one in {resumed_from.name}; continuing with the new one"
                warnings.warn(msg, stacklevel=2)
                skipped.append(msg)
        return start_step, resumed_from, skipped

    def _open_monitor(self, skipped: list[str]) -> None:
        t, run_dir = self.t, self.run_dir
        if self.main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(run_dir / "config.yaml", self.loaded.to_yaml())
        self.monitor = Monitor(run_dir, self.total, self.start_step, mode=t.progress, active=self.main)
        for msg in skipped:
            self.monitor.line(f"warning: {msg}")
        where = f"resuming from {self.resumed_from} at step {self.start_step}" if self.resumed_from else "starting"
        self.monitor.line(
            f"blurmap {__version__} recipe {self.recipe.name}: {where}; {self.total} steps, {len(self.segments)} "
            f"segments, {self.world} process(es), device {self.accelerator.device}, precision {t.mixed_precision}")
        self.ctx = Context(self.accelerator, self.models, self.bare, self.opts, self.cfg, t.grad_clip, self.total)
        self.result = TrainResult(run_dir=run_dir, step=self.start_step, total_steps=self.total,
                                  resumed_from=self.resumed_from)
        self.pin = self.accelerator.device.type == "cuda"
        self.running: dict[str, list[float]] = {}
        self.t_last, self.n_last = time.monotonic(), self.start_step
        self.t_start = self.t_last
        self.out_of_time = False
        self.warned: set[str] = set()

    # --- checkpoints and validation (every process waits for the main one) -----------------------
    def checkpoint(self, step: int) -> None:
        self.accelerator.wait_for_everyone()
        if self.main:
            state = _state(step, self.bare, self.opts, self.schedulers, self.emas, self.accelerator, self.specs,
                           self.segments, self.loaded, self.recipe.name, self.world)
            path = save_checkpoint(self.run_dir, step, state, keep=self.t.keep_checkpoints)
            self.monitor.line(f"checkpoint {path}", echo=False)
        self.accelerator.wait_for_everyone()

    def validate(self, step: int) -> None:
        self.accelerator.wait_for_everyone()
        if self.main and self.val_sets:
            metrics = _validate(self.recipe, self.ctx, self.val_sets, self.bare, self.emas, self.monitor, step, self.t)
            self.result.val_metrics = metrics
            self.monitor.scalars(step, {f"val/{k}": v for k, v in metrics.items()}, self.ctx.phase_name or "end",
                                 echo=True)
        self.accelerator.wait_for_everyone()

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        run_dir, total, monitor = self.run_dir, self.total, self.monitor
        try:
            for seg in self.segments[locate(self.segments, self.start_step):]:
                self._run_segment(seg)
                if self.out_of_time:
                    break
            end = self.result.step if self.out_of_time else total
            if self.start_step < end or not list_checkpoints(run_dir):
                self.checkpoint(end)
            self.validate(end)
            if self.main:
                self.result.final_weights = _export_final(run_dir, self.bare, self.emas, self.specs, self.recipe.name,
                                                          end, monitor)
            self.accelerator.wait_for_everyone()
            monitor.line(f"done: {end} steps; final weights in {run_dir / 'final'}")
        except KeyboardInterrupt:
            last = list_checkpoints(run_dir)
            monitor.line(f"interrupted after step {self.result.step}; run the same command to resume from "
                         f"{last[-1].name if last else 'the start (no checkpoint yet)'}")
            raise
        finally:
            monitor.close()
        # The process group (if any) stays up so a process may train again; the CLI tears it down.
        return self.result

    def _run_segment(self, seg: Segment) -> None:
        t, bare, ctx = self.t, self.bare, self.ctx
        trainable = _set_trainable(seg.phase, bare)
        for n, m in bare.items():
            m.train(n in trainable)
        auto_opts = [n for n, o in self.optimizers.items()
                     if any(p.requires_grad for g in o.param_groups for p in g["params"])]
        offset = max(0, self.start_step - seg.start)
        loaders = {}
        for data in seg.phase.data_names:
            first = seg.cursors[data] + offset * t.accum_steps
            loaders[data] = iter(make_stream_loader(
                self.datasets[data], self.recipe.train_transform(data), name=data, seed=t.seed, batch=t.batch_size,
                rank=self.rank, world=self.world, start=first, stop=seg.cursors[data] + seg.steps * t.accum_steps,
                num_workers=t.num_workers, pin_memory=self.pin))
        ctx.phase, ctx.phase_name = seg.phase, seg.name
        # Models with nothing to train in this phase run bare: a DDP wrapper whose forward
        # produces no parameter gradients would wait forever for them (or fail next step).
        ctx.models = {n: (self.models[n] if n in trainable else bare[n]) for n in bare}
        ctx.phase_steps = seg.top_steps
        sync_models = [self.models[n] for n in trainable if n in self.models]
        for step in range(seg.start + offset, seg.stop):
            self._run_step(seg, step, loaders, auto_opts, sync_models)
            done = step + 1
            if t.max_minutes and done != self.total and _out_of_time(self.t_start, t.max_minutes, self.accelerator,
                                                                      done, t.log_every):
                self.out_of_time = True
                self.monitor.line(f"train.max_minutes={t.max_minutes:g} reached at step {done} of {self.total}; "
                                  "run the same command to continue")
                break

    def _run_step(self, seg: Segment, step: int, loaders: dict, auto_opts: list[str], sync_models: list) -> None:
        t, ctx, accelerator, recipe = self.t, self.ctx, self.accelerator, self.recipe
        seed_everything(derive_seed(t.seed, "step", self.rank, step))
        for o in self.opts.values():
            o.zero_grad(set_to_none=True)
        ctx.step, ctx.phase_step = step, step - seg.top_start
        first = seg.phase.data_names[0]
        ctx.epoch = (seg.cursors[first] / t.accum_steps + step - seg.start) / self.steps_per_epoch[first]
        ctx.stepped = set()
        accelerator.step = 0  # keep Accelerate's accumulation counter aligned with our steps
        for _ in range(t.accum_steps):
            raw = {n: next(it) for n, it in loaders.items()}
            batch = raw[seg.phase.data_names[0]] if isinstance(seg.phase.data, str) else raw
            batch = _to_device(batch, accelerator.device, t.channels_last)
            ctx.manual = False
            with accelerator.accumulate(*sync_models):
                with accelerator.autocast():
                    losses = recipe.step(batch, ctx)
                if not ctx.manual:
                    if "loss" not in losses:
                        raise ConfigError(f"recipe {recipe.name!r}: step() returned no 'loss' and did not call ctx.backward")
                    accelerator.backward(losses["loss"])
                    for n in auto_opts:
                        ctx.optimizer_step(n)
            self._record_losses(losses, step, seg)
        for s in self.schedulers.values():
            s.step()
        for n, e in self.emas.items():
            e.update(self.bare[n])
        done = step + 1
        self.result.step = done
        self.monitor.progress(done, seg.name, {k.split("/", 1)[1]: v[-1] for k, v in self.running.items()})
        if done % t.log_every == 0 or done == self.total:
            self._log(done, seg)
        if t.val_every and done % t.val_every == 0 and done != self.total:
            self.validate(done)
        if done % t.checkpoint_every == 0 and done != self.total:
            self.checkpoint(done)

    def _record_losses(self, losses: Mapping, step: int, seg: Segment) -> None:
        for k, v in losses.items():
            val = _scalar(v)
            if val is not None and not k.startswith("_"):
                self.running.setdefault(f"loss/{k}", []).append(val)
                if not math.isfinite(val) and f"nonfinite/{k}" not in self.warned:
                    self.warned.add(f"nonfinite/{k}")
                    self.monitor.line(f"warning: loss {k!r} is {val} at step {step} (phase {seg.name})")

    def _log(self, done: int, seg: Segment) -> None:
        now = time.monotonic()
        scalars = {k: float(np.mean(v)) for k, v in self.running.items()}
        for n, o in self.optimizers.items():
            scalars[f"lr/{n}"] = float(o.param_groups[0]["lr"])
        scalars["phase"] = float(seg.top_index)
        scalars["epoch"] = self.ctx.epoch + 1.0 / self.steps_per_epoch[seg.phase.data_names[0]]
        dt = max(now - self.t_last, 1e-9)
        scalars["throughput/steps_per_s"] = (done - self.n_last) / dt
        scalars["throughput/samples_per_s"] = (done - self.n_last) * self.global_batch / dt
        self.monitor.scalars(done, scalars, seg.name)
        self.result.history.append((done, scalars))
        self.running.clear()
        self.t_last, self.n_last = now, done


def _state(step, bare, opts, schedulers, emas, accelerator, specs, segments, loaded, recipe_name, world) -> dict:
    i = locate(segments, step)
    seg: Segment = segments[min(i, len(segments) - 1)]
    return {
        "format": CHECKPOINT_FORMAT,
        "blurmap_version": __version__,
        "recipe": recipe_name,
        "step": step,
        "phase": seg.name if i < len(segments) else "done",
        "world_size": world,
        "data_cursors": {k: v + (step - seg.start) * loaded.cfg.train.accum_steps * (k in seg.phase.data_names)
                         for k, v in seg.cursors.items()} if i < len(segments) else {},
        "models": {n: {k: v.detach().cpu() for k, v in m.state_dict().items()} for n, m in bare.items()},
        "model_specs": specs,
        "ema": {n: {k: v.detach().cpu() for k, v in e.state_dict().items()} for n, e in emas.items()},
        "optimizers": {n: o.state_dict() for n, o in opts.items()},
        "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
        "scaler": accelerator.scaler.state_dict() if getattr(accelerator, "scaler", None) is not None else None,
        "rng": _rng_state(),
        "config": loaded.to_yaml(),
    }


def _restore(state, bare, opts, schedulers, emas, accelerator, world, run_dir) -> int:
    def need(group, have):
        missing = set(have) - set(state[group])
        if missing:
            raise ConfigError(f"{run_dir}: checkpoint has no {group} {sorted(missing)}; it belongs to another recipe")

    need("models", bare)
    need("optimizers", opts)
    for n, m in bare.items():
        m.load_state_dict(state["models"][n])
    for n, o in opts.items():
        o.load_state_dict(state["optimizers"][n])
    for n, s in schedulers.items():
        if n in state["schedulers"]:
            s.load_state_dict(state["schedulers"][n])
    for n, e in emas.items():
        if n in state.get("ema", {}):
            e.load_state_dict(state["ema"][n])
        else:
            e.model.load_state_dict(bare[n].state_dict())
    if state.get("scaler") is not None and getattr(accelerator, "scaler", None) is not None:
        accelerator.scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    if state.get("world_size", world) != world:
        warnings.warn(f"{run_dir}: checkpoint was written by {state['world_size']} process(es), resuming with {world}: "
                      "data order differs from an uninterrupted run", stacklevel=3)
    return int(state["step"])


@torch.no_grad()
def _validate(recipe, ctx: Context, val_sets, bare, emas, monitor: Monitor, step: int, t) -> dict:
    from blurmap.metrics import psnr, ssim

    eval_models = {n: (emas[n].model if n in emas else m) for n, m in bare.items()}
    modes = {n: m.training for n, m in bare.items()}
    for m in eval_models.values():
        m.eval()
    train_models, ctx.models = ctx.models, eval_models  # bare models: no DDP collectives on one rank
    out: dict[str, float] = {}
    try:
        for set_name, ds in val_sets.items():
            loader = torch.utils.data.DataLoader(ds, batch_size=t.val_batch_size, shuffle=False, num_workers=0)
            sums: dict[str, list[float]] = {}
            cols: dict[str, list[torch.Tensor]] = {}
            shown = 0
            for batch in loader:
                batch = _to_device(batch, ctx.device, t.channels_last)
                with ctx.autocast():
                    res = recipe.validate(batch, ctx)
                if "output" in res and "target" in res:
                    pred = res["output"].detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
                    gt = res["target"].detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
                    for p, g in zip(pred, gt):
                        sums.setdefault("psnr", []).append(float(psnr(p, g)))
                        sums.setdefault("ssim", []).append(float(ssim(p, g)))
                for k, v in res.get("metrics", {}).items():
                    sums.setdefault(k, []).append(float(v))
                if shown < t.val_images:
                    for key in ("input", "output", "target", "map"):
                        if key in res:
                            cols.setdefault(key, []).append(res[key].detach().float().cpu())
                    shown += next((v.shape[0] for v in res.values() if torch.is_tensor(v)), 1)
            prefix = "" if len(val_sets) == 1 else f"{set_name}/"
            out.update({prefix + k: float(np.mean(v)) for k, v in sums.items()})
            if cols and t.val_images > 0:
                try:
                    columns = [torch.cat(cols[k]) for k in ("input", "output", "target", "map") if k in cols]
                    monitor.image(f"val/{prefix}grid", image_grid(columns, t.val_images), step)
                except RuntimeError:  # images of different sizes in one column: first batch only
                    columns = [cols[k][0] for k in ("input", "output", "target", "map") if k in cols]
                    monitor.image(f"val/{prefix}grid", image_grid(columns, t.val_images), step)
    finally:
        ctx.models = train_models
        for n, m in bare.items():
            m.train(modes[n])
    return out


def _out_of_time(t_start: float, max_minutes: float, accelerator, step: int, every: int) -> bool:
    """Whether ``max_minutes`` of wall time have passed since ``t_start``, agreed by every process.

    One process checks after every step. Several processes' clocks differ by a step or so, so
    the decision is all-reduced (max) and all of them leave the loop at the same step; to keep
    that collective off most steps they decide only every ``every`` steps.
    """
    if accelerator.num_processes > 1 and step % max(1, every):
        return False
    late = (time.monotonic() - t_start) / 60.0 >= max_minutes
    if accelerator.num_processes > 1:
        flag = torch.tensor([1.0 if late else 0.0], device=accelerator.device)
        late = bool(accelerator.reduce(flag, reduction="max").item() > 0)
    return late


def _export_final(run_dir: Path, bare, emas, specs, recipe_name, step, monitor) -> dict:
    from blurmap.weights import save_weights

    written = {}
    for n, m in bare.items():
        if n not in specs:
            monitor.line(f"not exporting {n!r}: not a registered model (return a ModelSpec to export it)")
            continue
        weights = emas[n].model if n in emas else m
        extra = {"recipe": recipe_name, "step": step, "run_model": n, "ema": n in emas}
        written[n] = save_weights(run_dir / "final" / f"{n}.safetensors", weights, specs[n]["name"], specs[n]["config"], extra)
    return written
