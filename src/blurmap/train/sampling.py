"""Deterministic, resumable data streams for the engine.

Each named training dataset is read as an endless stream: the concatenation of random
permutations of its indices (permutation ``e`` seeded by ``(seed, name, e)``). Micro-batch
``m`` of process ``rank`` (of ``world``) holds stream positions
``(m * world + rank) * batch ... + batch - 1``. A resumed run only needs the number of
micro-batches already consumed (the *cursor*) to continue with exactly the same samples.

Every sample also gets its own seed ``(seed, name, position)``: the engine seeds torch /
numpy / random with it around ``dataset[i]`` (so on-the-fly synthetic datasets are
reproducible whatever the number of workers) and hands a ``torch.Generator`` seeded from it
to the recipe's transform (crops, flips).
"""

from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def derive_seed(*parts) -> int:
    """A stable 63-bit seed from any printable parts (same on every machine and process)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def seeded_rngs(seed: int):
    """Seed the global RNGs for the body of the ``with``, then restore their previous state."""
    py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)


class SeededDataset(Dataset):
    """Wraps a map-style dataset: item ``(index, seed)`` -> ``transform(dataset[index], gen)``.

    Args:
        dataset: yields dicts of tensors.
        transform: ``(sample, torch.Generator) -> sample`` or None.
    """

    def __init__(self, dataset: Dataset, transform: Optional[Callable] = None):
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        index, seed = item
        with seeded_rngs(seed):
            sample = self.dataset[index]
        if self.transform is not None:
            gen = torch.Generator().manual_seed(derive_seed(seed, "transform"))
            sample = self.transform(sample, gen)
        return sample


class StreamBatchSampler(Sampler):
    """Yields micro-batches ``[(index, sample_seed), ...]`` ``start .. stop-1`` of one stream.

    Args:
        length: dataset length N.
        name: dataset name (part of the seeds).
        seed: run seed.
        batch: micro-batch size per process.
        rank / world: this process and the number of processes.
        start / stop: micro-batch range (per-process counts, equal on all ranks).
    """

    def __init__(self, length: int, name: str, seed: int, batch: int, rank: int, world: int, start: int, stop: int):
        if length < 1:
            raise ValueError(f"training dataset {name!r} is empty")
        self.length, self.name, self.seed = length, name, seed
        self.batch, self.rank, self.world = batch, rank, world
        self.start, self.stop = start, stop
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.stop - self.start

    def _index_at(self, pos: int) -> int:
        epoch, offset = divmod(pos, self.length)
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, self.name, "perm", epoch))
            self._perm = torch.randperm(self.length, generator=gen)
            self._perm_epoch = epoch
        return int(self._perm[offset])

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for m in range(self.start, self.stop):
            first = (m * self.world + self.rank) * self.batch
            yield [(self._index_at(p), derive_seed(self.seed, self.name, "sample", p)) for p in range(first, first + self.batch)]


def _init_worker(worker_id: int, seed: int, rank: int) -> None:
    # Deterministic per-worker seeding; samples are re-seeded individually anyway.
    seed_everything(derive_seed(seed, "worker", rank, worker_id))


def make_stream_loader(dataset: Dataset, transform, *, name: str, seed: int, batch: int, rank: int, world: int,
                       start: int, stop: int, num_workers: int, pin_memory: bool) -> DataLoader:
    """A DataLoader over micro-batches ``start .. stop-1`` of dataset ``name``'s stream."""
    sampler = StreamBatchSampler(len(dataset), name, seed, batch, rank, world, start, stop)
    return DataLoader(
        SeededDataset(dataset, transform),
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=partial(_init_worker, seed=seed, rank=rank),
        # an explicit generator keeps DataLoader from drawing from the global torch RNG
        generator=torch.Generator().manual_seed(derive_seed(seed, name, "loader", start)),
    )
