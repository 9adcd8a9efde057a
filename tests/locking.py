"""Helpers for tests that race runs against the writer lock: a lock the test holds by hand, a
run on a thread, and the lock's `event key=value` log lines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from flows.running.observe import log_event
from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.stores.lock import WriterLock

LOGGER = "scholarflow.test.lock"


def make_lock(
    es: Elasticsearch, run_id: str, *, flow: str = "ingest", wait: float = 0.0
) -> WriterLock:
    return WriterLock(
        es,
        "papers",
        flow=flow,
        run_id=run_id,
        log=partial(log_event, logging.getLogger(LOGGER)),
        wait_seconds=wait,
        lease_seconds=60.0,
        poll_seconds=0.2,
    )


def expire(es: Elasticsearch) -> None:
    """Make the stored lease look as if its holder stopped renewing it long ago (a crash). The
    holder may be renewing it at that moment (a run writes its next batch while it reports the
    last): the update is applied again over the renewal."""
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    es.update(
        index=LOCK_INDEX, id="papers", doc={"expires_at": past}, refresh=True, retry_on_conflict=5
    )


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if getattr(r, "event", None) == name]


def in_thread(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[threading.Thread, list]:
    """Start `run` on a thread; the list receives what it returned or raised."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(run(*args, **kwargs))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for_event(caplog: pytest.LogCaptureFixture, name: str, thread: threading.Thread) -> None:
    """Until the run logs `name` (or dies); the deadline only stops a hang."""
    deadline = time.monotonic() + 180
    while not events(caplog, name) and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert events(caplog, name), f"no {name!r} event"
