"""Garbage collection during a load: the objects alive when it starts are left out of it.

A run allocates millions of short-lived objects, and every full collection walks every tracked
object, the already-imported libraries (Prefect, pydantic, the engine client) included: on the
benchmark corpus that was half of enrichment's time. Frozen objects are skipped by collections;
they are unfrozen afterwards, so anything among them that becomes garbage is still collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
