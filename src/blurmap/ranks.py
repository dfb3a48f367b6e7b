"""Batch jobs split over processes started by ``torchrun`` or ``accelerate launch``.

Both launchers start one process per GPU (or per ``--nproc-per-node`` on CPU) and describe
each process in environment variables: ``RANK`` (0..``WORLD_SIZE``-1 over all nodes),
``WORLD_SIZE`` and ``LOCAL_RANK`` (the process's index on its node, i.e. its GPU), plus
``MASTER_ADDR``/``MASTER_PORT`` where the processes meet. A batch command reads them with
:meth:`Ranks.from_env`, works on its :meth:`Ranks.shard` of the inputs (every input in exactly
one shard, the same split on every process because all expand the inputs identically), runs on
:meth:`Ranks.device`, and at the end sums its counts over all processes with
:meth:`Ranks.gather_counts` so that rank 0 can print one summary and every process can exit
with the status of the whole job. Outside a launcher it is one process of one: nothing to
split and no process group.

Example:
    >>> r = Ranks.from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    >>> r.shard(["a", "b", "c", "d", "e", "f", "g"])
    ['b', 'e']
    >>> Ranks.from_env({}).shard(["a", "b"])
    ['a', 'b']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Mapping, Sequence, TypeVar

from blurmap.errors import BlurmapError

T = TypeVar("T")

#: How long a process that finished its shard waits for the others (and for the rendezvous).
#: Shards can take hours on large batches, so this is generous; a process that dies makes the
#: launcher stop the others long before.
RANK_WAIT = timedelta(hours=24)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BlurmapError(f"environment variable {name}={value!r} is not an integer") from None


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in a multi-process job.

    Attributes:
        rank: global index of this process, ``0 <= rank < world_size``.
        world_size: number of processes over all nodes (1 outside a launcher).
        local_rank: index of this process on its node (its GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Ranks":
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (as set by torchrun / accelerate).

        Raises:
            BlurmapError: a value is not an integer, or the rank is outside ``[0, WORLD_SIZE)``.
        """
        env = os.environ if env is None else env
        world = _env_int(env, "WORLD_SIZE", 1)
        rank = _env_int(env, "RANK", 0)
        local = _env_int(env, "LOCAL_RANK", rank if world > 1 else 0)
        if world < 1 or not 0 <= rank < world:
            raise BlurmapError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process of the job")
        if local < 0:
            raise BlurmapError(f"LOCAL_RANK={local} is negative")
        return cls(rank=rank, world_size=world, local_rank=local)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that prints what is said once (summaries)."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share: items ``rank, rank + world_size, ...`` (interleaved, so the
        shards differ in length by at most one and neighbours in a folder spread out)."""
        return list(items[self.rank :: self.world_size])

    def device(self, device: str = "auto") -> str:
        """The device this process runs on.

        Args:
            device: ``"auto"`` (this process's GPU when CUDA is available, else the CPU),
                ``"cuda"`` (this process's GPU), ``"cpu"``, or an explicit ``"cuda:N"``.

        Returns:
            ``"cpu"``, or ``"cuda:<local_rank>"`` (modulo the GPUs there are, so more processes
            than GPUs share them round-robin), or the explicit device.
        """
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            return f"cuda:{self.local_rank % count if count else self.local_rank}"
        return device

    def gather_counts(self, counts: Sequence[int], on_main: Callable[[list[list[int]]], None] | None = None
                      ) -> list[list[int]]:
        """Every process's counts, gathered on every process; rank 0 reports before anyone leaves.

        A collective: each process of the job must call it once, with the same number of
        counts. Outside a launcher it returns ``[counts]`` at once. Inside, it joins the
        launcher's rendezvous (``MASTER_ADDR``/``MASTER_PORT``) with a CPU (gloo) process
        group, gathers, lets rank 0 run ``on_main``, waits for it at a barrier and leaves the
        group. The barrier matters: launchers stop the other processes as soon as one exits
        non-zero, which could cut rank 0's summary short.

        Args:
            counts: this process's numbers (e.g. files done, files failed).
            on_main: called on rank 0 with the gathered counts (print the summary there).

        Returns:
            ``[counts of rank 0, counts of rank 1, ...]``.

        Raises:
            BlurmapError: the processes could not meet (no ``MASTER_ADDR``/``MASTER_PORT``).
        """
        counts = [int(c) for c in counts]
        if not self.distributed:
            if on_main is not None:
                on_main([counts])
            return [counts]
        import torch
        import torch.distributed as dist

        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
        if missing:
            raise BlurmapError(
                f"WORLD_SIZE={self.world_size} but {' and '.join(missing)} not set; start the job with "
                "torchrun or accelerate launch"
            )
        owned = not dist.is_initialized()
        if owned:
            dist.init_process_group("gloo", rank=self.rank, world_size=self.world_size, timeout=RANK_WAIT)
        try:
            mine = torch.tensor(counts, dtype=torch.int64)
            gathered = [torch.zeros_like(mine) for _ in range(self.world_size)]
            dist.all_gather(gathered, mine)
            per_rank = [t.tolist() for t in gathered]
            if self.is_main and on_main is not None:
                on_main(per_rank)
            dist.barrier()
        finally:
            if owned:
                dist.destroy_process_group()
        return per_rank
