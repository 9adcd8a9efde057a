"""Garbage collection during a load: no automatic collections, an explicit one every few batches;
and the same for each batch a worker process prepares.

A load allocates millions of short-lived objects, and nearly all of them are freed by reference
counting as soon as their batch is indexed: records and papers hold no reference cycles. The
automatic collector walks them all the same, the young ones every 700 allocations and, at each
full collection, every tracked object, the imported libraries (Prefect, pydantic, the engine
client) included. So for the duration of a load the objects alive at its start are frozen out of
collections and automatic collection is off; every `COLLECT_EVERY_BATCHES` batches the young
generations are collected, which frees the few hundred objects in cycles a batch leaves behind
(Prefect's futures and states, the client's responses). On the benchmark corpus that is a sixth
less CPU than collecting young objects every 20,000 allocations, and a collection after every
batch would give back most of it: each one walks the batches still in flight. Afterwards the
collector is restored and the frozen objects unfrozen, so any of them that became garbage is
still collected.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count

COLLECT_EVERY_BATCHES = 10


@contextmanager
def load_heap() -> Iterator[Callable[[], None]]:
    """The collector set for a load; yields the function to call after each batch."""
    batches = count(1)

    def collect_garbage() -> None:
        if next(batches) % COLLECT_EVERY_BATCHES == 0:
            gc.collect(1)

    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield collect_garbage
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


@contextmanager
def batch_heap() -> Iterator[None]:
    """The collector set for one batch prepared in a worker process (a process pool's, a Dask
    worker's), as `load_heap` sets it for a load: the objects alive before the batch (Prefect,
    pydantic, the engine client: a worker holds some 200,000) are frozen out of collections and
    automatic collection is off until the batch is prepared, then its young objects are
    collected. With automatic collection on, a worker spent as much CPU walking those objects
    as decoding. In the load's own process, where `load_heap` turned collection off, it does
    nothing."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(1)
        gc.unfreeze()
        gc.enable()
