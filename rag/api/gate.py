"""The queue in front of the model: at most `slots` requests use it at once and `queue` more wait their turn;
a request beyond that is turned away at once (HTTP 429 with Retry-After) rather than left to time out.

Admission and the turn are separate steps so that a stream can be admitted (or refused) before its response
starts, then wait for its turn while the response is already open.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Full(Exception):
    """Every slot and every place in the queue is taken; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the model is busy: try again in {retry_after} s")
        self.retry_after = retry_after


class Gate:
    """Bounded admission to a model that serves `slots` requests at a time. Thread-safe."""

    def __init__(self, slots: int, queue: int, typical_seconds: float = 10.0) -> None:
        self.slots, self.queue = slots, queue
        self._turns = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._admitted = 0
        self._seconds = typical_seconds  # a moving average of how long one turn lasts, for Retry-After

    @property
    def admitted(self) -> int:
        """Requests admitted and not yet finished: using the model or waiting for it."""
        return self._admitted

    def admit(self) -> Admission:
        """A place for one request, or Full. Release it (or use it as a context manager) when done."""
        with self._lock:
            if self._admitted >= self.slots + self.queue:
                raise Full(self.retry_after())
            self._admitted += 1
        return Admission(self)

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the waiting requests' turns at the typical length."""
        waiting = max(0, self._admitted - self.slots + 1)
        return max(1, math.ceil(self._seconds * waiting / self.slots))

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until the model is free for this request (blocks the calling thread)."""
        self._turns.acquire()
        started = time.monotonic()
        try:
            yield
        finally:
            self._turns.release()
            with self._lock:
                self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1


class Admission:
    """One admitted request's place; `release` is idempotent."""

    def __init__(self, gate: Gate) -> None:
        self._gate: Gate | None = gate

    def release(self) -> None:
        if self._gate is not None:
            gate, self._gate = self._gate, None
            gate._leave()

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
