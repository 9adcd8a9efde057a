"""The embedded engine's lifecycle: one per home, shared, persisted across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scholarflow.engine import EmbeddedEngine
from scholarflow.lock import LOCK_INDEX, WriterLock, read_lease
from scholarflow.search_client import connect
from scholarflow.settings import Settings


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    EmbeddedEngine(home).stop()


def test_started_once_and_shared(home: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(pool.map(lambda _: EmbeddedEngine(home).ensure(), range(4)))
    assert len({(s.pid, s.url) for s in states}) == 1
    status = EmbeddedEngine(home).status()
    assert status is not None and status.pid == states[0].pid
    assert (home / "engine" / "engine.json").exists()


def test_data_survives_a_restart(home: Path) -> None:
    settings = Settings(_env_file=None, home=home)
    client = connect(settings)
    client.indices.create(index="papers-000001", aliases={"papers": {}})
    client.index(index="papers", id="a", document={"title_en": "kept"}, refresh=True)
    held = WriterLock(
        client,
        "papers",
        flow="ingest",
        run_id="r",
        log=lambda *a, **k: None,
        wait_seconds=0,
        lease_seconds=600,
    )
    held.acquire()  # a run that dies with the engine: its lease must not come back
    engine = EmbeddedEngine(home)
    snapshot = engine.persist()
    assert snapshot is not None and (snapshot / "papers-000001.ndjson").exists()
    assert not (snapshot / f"{LOCK_INDEX}.ndjson").exists()
    first_pid = engine.status().pid
    assert engine.stop() is True
    assert engine.status() is None

    client = connect(settings)  # starts a new engine from the persisted snapshot
    assert engine.status().pid != first_pid
    assert client.get(index="papers", id="a")["_source"] == {"title_en": "kept"}
    assert list(client.indices.get_alias(name="papers")) == ["papers-000001"]
    assert read_lease(client, "papers") is None


def test_stale_pid_file_is_ignored(home: Path) -> None:
    engine = EmbeddedEngine(home)
    engine.dir.mkdir(parents=True)
    engine.state_file.write_text('{"pid": 999999, "url": "http://127.0.0.1:9", "started_at": "x"}')
    assert engine.status() is None
    assert not engine.state_file.exists()
    assert engine.ensure().pid != 999999


def test_old_snapshots_are_pruned(home: Path) -> None:
    engine = EmbeddedEngine(home)
    connect(Settings(_env_file=None, home=home)).indices.create(index="x")
    for _ in range(4):
        engine.persist()
    snapshots = [p for p in (home / "engine" / "snapshots").iterdir()]
    assert len(snapshots) == 2
    assert (home / "engine" / "current").resolve() == max(snapshots)
