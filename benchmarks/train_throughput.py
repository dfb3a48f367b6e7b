"""Training throughput of one recipe phase: samples/s, data vs compute time, achieved GFLOP/s.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py CONFIG [--phase NAME]
        [--steps 20] [--warmup 3] [key=value ...]

Builds the recipe of ``CONFIG`` exactly as ``blurmap train`` does (same models, optimizers,
datasets, per-sample transform, Accelerate mixed precision, channels-last), then runs
``--warmup`` + ``--steps`` optimizer steps of phase ``NAME`` (default: the phase with the most
steps; a sub-phase is named ``parent/child``). Overrides (``train.batch_size=8``,
``train.mixed_precision=bf16``, ``train.compile=true``, ...) are the config's.

Prints one line: samples/s over the timed steps, seconds per step split into data (fetching
and collating the micro-batch) and compute (forward, backward, optimizer), the FLOPs of one
step (forward + backward, counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions
and matrix products; element-wise work is not counted) and the achieved GFLOP/s of the
compute part, and the process CPU time per step (on one thread, about what a quiet machine's
wall time would be: a loaded machine stretches wall time far more). Each timed step is measured
separately and the best quarter is averaged, so a shared machine's load spikes count less (the median is printed too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--phase", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default=None, help="append the row as one JSON line to this file")
    ap.add_argument("--label", default="")
    ap.add_argument("--warm-data", action="store_true",
                    help="read the timed batches once before timing (steady state of a cached dataset: "
                         "after its first epoch a fixed, cached synthetic set only crops and flips)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_intermixed_args(argv)

    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from blurmap.train import engine
    from blurmap.train.config import load_config
    from blurmap.train.optim import set_optimizer_impl
    from blurmap.train.sampling import derive_seed, make_stream_loader, seed_everything
    from blurmap.train.schedule import build_schedule

    loaded = load_config(args.config, args.overrides)
    cfg, t = loaded.cfg, loaded.cfg.train
    seed_everything(t.seed)
    recipe = loaded.recipe_cls(cfg)
    declared = recipe.build_models()
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    from blurmap.models import build_model

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    acc = Accelerator(cpu=True, mixed_precision=t.mixed_precision, gradient_accumulation_steps=t.accum_steps)
    bare = {}
    for name, spec in declared.items():
        m = build_model(spec.name, **dict(spec.kwargs)) if hasattr(spec, "kwargs") else spec
        if t.channels_last:
            m = m.to(memory_format=torch.channels_last)
        bare[name] = m
    optimizers = dict(recipe.build_optimizers(bare))
    for name, opt in optimizers.items():
        set_optimizer_impl(opt, t.optimizer_impl, name)
    datasets = dict(recipe.build_datasets())
    phases = list(recipe.phases())
    steps_per_epoch = {n: max(1, len(ds) // (t.batch_size * t.accum_steps)) for n, ds in datasets.items()}
    segments = build_schedule(phases, steps_per_epoch, t.accum_steps, where="bench")
    if args.phase is None:
        seg = max(segments, key=lambda s: s.stop - s.start)
    else:
        matches = [s for s in segments if s.name == args.phase]
        if not matches:
            raise SystemExit(f"no phase {args.phase!r}; phases: {', '.join(sorted({s.name for s in segments}))}")
        seg = matches[0]
    trainable = engine._set_trainable(seg.phase, bare)
    models = {}
    for n, m in bare.items():
        m.train(n in trainable)
        models[n] = acc.prepare_model(m) if any(p.requires_grad for p in m.parameters()) else m
        if t.compile:
            models[n] = torch.compile(models[n])
    opts = {n: acc.prepare_optimizer(o) for n, o in optimizers.items()}
    auto_opts = [n for n, o in optimizers.items() if any(p.requires_grad for g in o.param_groups for p in g["params"])]
    ctx = engine.Context(acc, {n: (models[n] if n in trainable else bare[n]) for n in bare}, bare, opts, cfg,
                         t.grad_clip, segments[-1].stop)
    ctx.phase, ctx.phase_name, ctx.phase_steps = seg.phase, seg.name, seg.top_steps
    n_steps = args.warmup + args.steps
    def make_loaders():
        return {d: iter(make_stream_loader(datasets[d], recipe.train_transform(d), name=d, seed=t.seed,
                                           batch=t.batch_size, rank=0, world=1, start=seg.cursors[d],
                                           stop=seg.cursors[d] + (n_steps + 1) * t.accum_steps,
                                           num_workers=t.num_workers, pin_memory=False))
                for d in seg.phase.data_names}

    if args.warm_data:
        for it in make_loaders().values():
            for _ in it:
                pass
    loaders = make_loaders()

    def one_step(step: int, count_flops: bool = False):
        seed_everything(derive_seed(t.seed, "step", 0, step))
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        ctx.step, ctx.phase_step, ctx.stepped = seg.start + step, step, set()
        data_s = comp_s = 0.0
        flops = 0
        c_start = time.process_time()
        for _ in range(t.accum_steps):
            t0 = time.perf_counter()
            raw = {n: next(it) for n, it in loaders.items()}
            batch = raw[seg.phase.data_names[0]] if isinstance(seg.phase.data, str) else raw
            batch = engine._to_device(batch, acc.device, t.channels_last)
            t1 = time.perf_counter()
            counter = FlopCounterMode(display=False) if count_flops else None
            with counter if counter is not None else _null():
                ctx.manual = False
                with acc.accumulate(*[models[n] for n in trainable if n in models]):
                    with acc.autocast():
                        losses = recipe.step(batch, ctx)
                    if not ctx.manual:
                        acc.backward(losses["loss"])
                        for n in auto_opts:
                            ctx.optimizer_step(n)
            t2 = time.perf_counter()
            if counter is not None:
                flops += counter.get_total_flops()
            data_s += t1 - t0
            comp_s += t2 - t1
        return data_s, comp_s, flops, time.process_time() - c_start

    for i in range(args.warmup):
        one_step(i)
    _, _, flops, _ = one_step(args.warmup, count_flops=True)
    data, comp, cpu = [], [], []
    for i in range(args.warmup + 1, n_steps + 1):
        d, c, _, p = one_step(i)
        data.append(d)
        comp.append(c)
        cpu.append(p)
    data, comp, cpu = np.array(data), np.array(comp), np.array(cpu)
    total = data + comp
    k = max(1, len(total) // 4)
    best = np.argsort(total)[:k]
    step_s = float(total[best].mean())
    samples = t.batch_size * t.accum_steps
    params = sum(p.numel() for m in bare.values() for p in m.parameters())
    row = {
        "label": args.label, "config": args.config, "phase": seg.name, "overrides": args.overrides,
        "batch": samples, "crop": t.crop_size, "precision": t.mixed_precision, "channels_last": t.channels_last,
        "compile": t.compile, "warm_data": args.warm_data, "optimizer_impl": t.optimizer_impl, "params_M": params / 1e6,
        "threads": torch.get_num_threads(),
        "samples_per_s": samples / step_s, "step_s": step_s, "data_s": float(data[best].mean()),
        "compute_s": float(comp[best].mean()), "median_step_s": float(np.median(total)),
        # process CPU time of a step (data + compute): on one thread what a quiet machine's
        # wall time would be; a loaded machine stretches wall time much more than CPU time
        "cpu_step_s": float(np.sort(cpu)[:k].mean()), "samples_per_cpu_s": samples / float(np.sort(cpu)[:k].mean()),
        "gflop_per_step": flops / 1e9, "gflop_per_s": flops / 1e9 / float(comp[best].mean()),
        "load": __import__("os").getloadavg()[0],
    }
    print(f"{args.label or args.config} [{seg.name}] batch {samples} crop {t.crop_size} {t.mixed_precision} "
          f"cl={t.channels_last} compile={t.compile} opt={t.optimizer_impl}: {row['samples_per_s']:.2f} samples/s, step {step_s:.3f} s "
          f"(data {row['data_s']:.3f}, compute {row['compute_s']:.3f}; median {row['median_step_s']:.3f}), "
          f"{row['gflop_per_step']:.2f} GFLOP/step, {row['gflop_per_s']:.1f} GFLOP/s; CPU time {row['cpu_step_s']:.3f} s/step "
          f"= {row['samples_per_cpu_s']:.2f} samples per CPU s; load {row['load']:.2f}")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    return 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
