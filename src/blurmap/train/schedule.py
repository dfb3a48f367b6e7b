"""Turn a recipe's phases into a flat list of segments with concrete step counts.

A *segment* is a stretch of optimizer steps with one leaf phase (a top-level phase, or one
turn of a sub-phase of an alternating phase). Knowing the segments, the engine can map any
global step to (phase, step inside it, data cursors), which is what makes resume exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from blurmap.errors import ConfigError
from blurmap.train.recipe import Phase


@dataclass(frozen=True)
class Segment:
    """Steps ``start .. start + steps - 1`` run leaf phase ``phase``.

    Attributes:
        phase: the leaf :class:`Phase` (what trains, losses, data).
        name: full name (``"alt/reds"`` for a sub-phase).
        top_index: index of the top-level phase.
        top_start / top_steps: first step and length of the top-level phase.
        cursors: micro-batches of each dataset consumed before this segment (per process).
    """

    phase: Phase
    name: str
    top_index: int
    start: int
    steps: int
    top_start: int
    top_steps: int
    cursors: Mapping[str, int]

    @property
    def stop(self) -> int:
        return self.start + self.steps


def _length(phase: Phase, steps_per_epoch: Mapping[str, int], where: str) -> int:
    if phase.iters is not None:
        n = int(phase.iters)
    else:
        data = phase.data_names[0]
        if data not in steps_per_epoch:
            raise ConfigError(f"{where}: phase {phase.name!r} uses dataset {data!r}; datasets: {', '.join(steps_per_epoch)}")
        n = int(round(phase.epochs * steps_per_epoch[data]))
    if n < 1:
        raise ConfigError(f"{where}: phase {phase.name!r} would run {n} steps (must be >= 1)")
    return n


def build_schedule(phases: Sequence[Phase], steps_per_epoch: Mapping[str, int], accum_steps: int,
                   where: str = "recipe") -> list[Segment]:
    """Flatten ``phases`` into segments.

    Args:
        phases: the recipe's phases.
        steps_per_epoch: optimizer steps per epoch of each training dataset.
        accum_steps: micro-batches per optimizer step (to advance the data cursors).

    Returns:
        Segments in order; ``segments[-1].stop`` is the total number of optimizer steps.

    Raises:
        ConfigError: unknown dataset, a zero-length phase, or no phases.
    """
    if not phases:
        raise ConfigError(f"{where}: the recipe declares no phases")
    segments: list[Segment] = []
    cursors = {name: 0 for name in steps_per_epoch}
    step = 0

    def add(phase, name, top_index, steps, top_start, top_steps):
        nonlocal step
        for data in phase.data_names:
            if data not in steps_per_epoch:
                raise ConfigError(f"{where}: phase {name!r} uses dataset {data!r}; datasets: {', '.join(steps_per_epoch)}")
        segments.append(Segment(phase, name, top_index, step, steps, top_start, top_steps, dict(cursors)))
        for data in phase.data_names:
            cursors[data] += steps * accum_steps
        step += steps

    for i, top in enumerate(phases):
        if not top.alternate:
            n = _length(top, steps_per_epoch, where)
            add(top, top.name, i, n, step, n)
            continue
        subs = [(sub, _length(sub, steps_per_epoch, where)) for sub in top.alternate]
        if top.cycles is not None:
            total = top.cycles * sum(n for _, n in subs)
        elif top.iters is not None:
            total = int(top.iters)
        else:  # epochs of the first sub-phase's dataset
            total = int(round(top.epochs * steps_per_epoch.get(top.alternate[0].data_names[0], 0)))
        if total < 1:
            raise ConfigError(f"{where}: phase {top.name!r} would run {total} steps (must be >= 1)")
        top_start, left, k = step, total, 0
        while left > 0:
            sub, n = subs[k % len(subs)]
            n = min(n, left)
            add(sub, f"{top.name}/{sub.name}", i, n, top_start, total)
            left -= n
            k += 1
    return segments


def locate(segments: Sequence[Segment], step: int) -> int:
    """Index of the segment containing global ``step`` (``len(segments)`` when finished)."""
    for i, seg in enumerate(segments):
        if step < seg.stop:
            return i
    return len(segments)
