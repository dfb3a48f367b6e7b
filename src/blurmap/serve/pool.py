"""A bounded worker pool for inference: memory stays bounded however many requests arrive.

At most ``workers`` jobs run at once (threads: torch releases the GIL inside its kernels) and
at most ``queue`` more wait; a request beyond that is answered 503 with ``Retry-After`` at once
instead of being parked in memory. A request holds its slot from admission until its job has
really finished, so a job that overran its timeout still counts until its thread is free.

The per-request timeout covers the wait in the queue and the work. A job cannot be killed
mid-kernel, so it is stopped cooperatively: :meth:`Job.check` raises once the deadline has
passed, and the jobs call it between tiles and before expensive steps.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from blurmap.serve.errors import ServeError


class JobTimeout(Exception):
    """Raised inside a job whose deadline has passed (the client already got its 504)."""


@dataclass
class Job:
    """What a running job may ask: has its time run out? And how long did it wait?"""

    deadline: float
    admitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self, *_ignored) -> None:
        """Raise :class:`JobTimeout` if the request timed out (usable as an ``on_tile`` callback)."""
        if self.cancelled.is_set() or time.monotonic() > self.deadline:
            raise JobTimeout()

    @property
    def queued_seconds(self) -> float:
        return (self.started or time.monotonic()) - self.admitted


class InferencePool:
    """``workers`` threads and ``queue`` waiting places (see the module docstring).

    Args:
        workers: jobs that run at the same time (>= 1).
        queue: jobs that may wait for a worker (>= 0).
        timeout: seconds a request may take, waiting included.
    """

    def __init__(self, workers: int = 1, queue: int = 8, timeout: float = 120.0):
        if workers < 1 or queue < 0 or timeout <= 0:
            raise ValueError(f"workers >= 1, queue >= 0 and timeout > 0 needed, got {workers}, {queue}, {timeout}")
        self.workers, self.queue, self.timeout = int(workers), int(queue), float(timeout)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="blurmap-infer")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._mean_seconds = 1.0  # running mean of job durations, for Retry-After

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    @property
    def in_flight(self) -> int:
        """Jobs admitted and not finished (running or waiting)."""
        return self._in_flight

    def retry_after(self) -> int:
        """Seconds after which a slot is likely free: the queue's expected drain time."""
        return max(1, math.ceil(self._mean_seconds * self.capacity / self.workers))

    def _admit(self) -> None:
        with self._lock:
            if self._in_flight >= self.capacity:
                raise ServeError(
                    503,
                    f"server busy: {self._in_flight} requests running or queued (limit {self.capacity}); retry later",
                    headers={"Retry-After": str(self.retry_after())},
                )
            self._in_flight += 1

    def _release(self, seconds: float | None) -> None:
        with self._lock:
            self._in_flight -= 1
            if seconds is not None:
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

    async def run(self, fn: Callable[..., Any], *args, **kwargs) -> tuple[Any, Job]:
        """Run ``fn(job, *args, **kwargs)`` on a worker; returns ``(result, job)``.

        Raises:
            ServeError: 503 when the queue is full, 504 when the request ran out of time.
            Whatever ``fn`` raises otherwise.
        """
        self._admit()
        job = Job(deadline=time.monotonic() + self.timeout)

        def call():
            job.started = time.monotonic()
            try:
                job.check()  # timed out while queued: do not start
                return fn(job, *args, **kwargs)
            finally:
                self._release(time.monotonic() - job.started)

        try:
            future = self._executor.submit(call)
        except BaseException:
            self._release(None)
            raise
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=self.timeout)
        except asyncio.TimeoutError:
            job.cancelled.set()
            if future.cancel():  # never started: its slot is free now
                self._release(None)
            raise ServeError(504, f"the request took longer than the server's {self.timeout:g} s limit (--timeout)") from None
        except JobTimeout:
            raise ServeError(504, f"the request took longer than the server's {self.timeout:g} s limit (--timeout)") from None
        return result, job

    def shutdown(self) -> None:
        """Stop accepting work, cancel what waits and let running jobs finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)
