"""What one run keeps per process: its circuit breaker, its engine client.

A run's batches may be prepared in the flow's own process (threads) or in worker processes (a
Dask cluster), and a worker serves many runs. Each process keeps, per run id, the object the
run's batches share, made on first use and dropped oldest-first past `limit`, so a long-lived
worker neither rebuilds it per batch nor keeps one per run it ever served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerRun(Generic[T]):
    """A bounded, thread-safe map of run id → T; `close` is called on what is dropped."""

    def __init__(self, limit: int = 64, close: Callable[[T], object] | None = None) -> None:
        self.limit = limit
        self.close = close
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str, make: Callable[[], T]) -> T:
        """The run's T in this process, made by `make` the first time."""
        with self._lock:
            item = self._items.pop(run_id, None)
            if item is None:
                item = make()
            self._items[run_id] = item
            dropped = self._trim()
        self._close(dropped)
        return item

    def put(self, run_id: str, item: T) -> None:
        """Use `item` for the run in this process (a writer run's own client)."""
        with self._lock:
            self._items[run_id] = item
            dropped = self._trim()
        self._close(dropped)

    def drop(self, run_id: str) -> None:
        """Forget the run's T without closing it (its owner does)."""
        with self._lock:
            self._items.pop(run_id, None)

    def _trim(self) -> list[T]:
        dropped = []
        while len(self._items) > self.limit:
            dropped.append(self._items.popitem(last=False)[1])
        return dropped

    def _close(self, items: list[T]) -> None:
        if self.close is not None:
            for item in items:
                self.close(item)
