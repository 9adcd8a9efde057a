"""The embedded engines' lifecycle: the real OpenSearch by default, one per home and shared,
durable across restarts; the in-memory fallback named in one line where Java or Maven are
missing; every start failure one line naming its cause and the log."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scholarflow.engine import EmbeddedEngine, EngineStartError, opensearch
from scholarflow.engine.client import connect
from scholarflow.search.service import search_papers
from scholarflow.settings import EngineKind, Settings
from scholarflow.status import index_status
from scholarflow.stores.lock import WriterLock, read_lease
from tests.cli_helpers import json_out, one_line_error, run_cli
from tests.seeding import seed_index
from tests.shared_engine import SharedEngine


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    EmbeddedEngine(home).stop()


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A machine without Java: JAVA_HOME names a folder with no bin/java."""
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    opensearch.find_java.cache_clear()
    yield
    opensearch.find_java.cache_clear()


def test_started_once_shared_and_a_stale_pid_file_replaced(home: Path) -> None:
    engine = EmbeddedEngine(home)
    engine.dir.mkdir(parents=True)
    engine.state_file.write_text('{"pid": 999999, "url": "http://127.0.0.1:9", "started_at": "x"}')
    assert engine.status() is None and not engine.state_file.exists()

    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(pool.map(lambda _: EmbeddedEngine(home).ensure(), range(4)))
    assert len({(s.pid, s.url) for s in states}) == 1
    state = EmbeddedEngine(home).status()
    assert state is not None and state.pid == states[0].pid != 999999
    assert (state.kind, state.version, state.lucene) == ("opensearch", "2.19.6", "9.12.3")
    assert state.note == ""
    info = connect(Settings(_env_file=None, es_url=state.url)).info()
    assert info["version"]["distribution"] == "opensearch"


def test_data_is_durable_across_a_restart_and_leases_end_with_the_engine(home: Path) -> None:
    settings = Settings(_env_file=None, home=home, engine=EngineKind.OPENSEARCH)
    client = connect(settings)
    client.indices.create(index="papers-000001", aliases={"papers": {}})
    client.index(index="papers", id="a", document={"title_en": "kept"}, refresh=True)
    held = WriterLock(
        client, "papers", flow="ingest", run_id="r", log=lambda *a, **k: None,
        wait_seconds=0, lease_seconds=600,
    )  # fmt: skip
    held.acquire()  # a run that dies with the engine: its lease must not come back
    engine = EmbeddedEngine(home)
    assert engine.persist() is None  # nothing to snapshot: the engine writes to disk itself
    first = engine.status()
    assert first is not None and engine.stop() is True and engine.status() is None

    client = connect(settings)  # starts the engine again on the same data
    assert engine.status().pid != first.pid
    assert client.get(index="papers", id="a")["_source"] == {"title_en": "kept"}
    assert list(client.indices.get_alias(name="papers")) == ["papers-000001"]
    assert read_lease(client, "papers") is None


def test_without_java_the_fallback_runs_and_says_so_in_one_line(
    home: Path, no_java: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="scholarflow.engine"):
        state = EmbeddedEngine(home).ensure()
    assert state.kind == "osmem"
    assert state.note.startswith("Java 17+ not found (JAVA_HOME=")
    assert "using the fallback engine osmem (in memory, not Lucene" in state.note
    assert [r.getMessage() for r in caplog.records] == [state.note]


def test_asking_for_opensearch_without_java_fails_in_one_line(home: Path, no_java: None) -> None:
    with pytest.raises(EngineStartError) as failure:
        EmbeddedEngine(home, kind=EngineKind.OPENSEARCH).ensure()
    assert str(failure.value).startswith("the embedded OpenSearch cannot run: Java 17+ not found")


def test_too_old_a_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Only Java 17 and 25 exist on this machine: a stand-in `java` prints an old version line.
    fake = tmp_path / "jdk11" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.21\" 2023-10-17' >&2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk11"))
    opensearch.find_java.cache_clear()
    try:
        with pytest.raises(opensearch.Unavailable, match="is Java 11; the engine needs Java 17"):
            opensearch.find_java()
    finally:
        opensearch.find_java.cache_clear()


@pytest.fixture
def unbuilt_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the engine's Maven module that has never been built."""
    module = tmp_path / "engine-module"
    shutil.copytree(opensearch.MODULE, module, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setattr(opensearch, "MODULE", module)
    monkeypatch.setattr(opensearch, "LIB", module / "target" / "lib")
    return module


def test_without_maven_the_build_says_so(
    unbuilt_module: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(opensearch.Unavailable, match=r"^Maven \(mvn\) not found"):
        opensearch.build(tmp_path / "build.log")


@pytest.mark.slow
def test_an_unreachable_maven_repository_fails_the_build_in_one_line(
    unbuilt_module: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real Maven, an empty local repository and a mirror on a port where nothing listens."""
    user_home = tmp_path / "user"
    (user_home / ".m2").mkdir(parents=True)
    (user_home / ".m2" / "settings.xml").write_text(
        "<settings><localRepository>" + str(tmp_path / "repo") + "</localRepository>"
        "<mirrors><mirror><id>down</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:9/</url>"
        "</mirror></mirrors></settings>"
    )
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={user_home}")
    log = tmp_path / "build.log"
    with pytest.raises(opensearch.Unavailable) as failure:
        opensearch.build(log)
    message = str(failure.value)
    assert message.startswith("the engine's Maven build failed: ")
    assert "127.0.0.1:9" in message and message.endswith(f"(log {log})")
    assert "\n" not in message
    assert not opensearch.is_built()


def test_a_taken_port_is_named(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EngineStartError) as failure:
            EmbeddedEngine(home, port=port).ensure()
    message = str(failure.value)
    assert f"127.0.0.1:{port}" in message and "bind" in message.lower()
    assert message.endswith(f"(log {home / 'engine' / 'engine.log'})")


def test_a_data_directory_held_by_another_node_is_named(home: Path) -> None:
    engine = EmbeddedEngine(home)
    first = engine.ensure()
    engine.state_file.unlink()  # as if the first node had been started by hand
    try:
        with pytest.raises(EngineStartError, match=r"another engine uses .*/engine/data"):
            EmbeddedEngine(home).ensure()
    finally:
        os.kill(first.pid, signal.SIGTERM)


def test_too_small_a_heap_is_named(home: Path) -> None:
    with pytest.raises(EngineStartError) as failure:
        EmbeddedEngine(home, heap="8m").ensure()
    message = str(failure.value)
    assert message.startswith("the embedded engine did not start: the Java heap is too small ")
    assert "SCHOLARFLOW_ENGINE_HEAP=8m" in message and "OutOfMemoryError" in message


def test_the_fallback_names_itself_on_the_command_line(home: Path, tmp_path: Path) -> None:
    env = {"SCHOLARFLOW_HOME": str(home), "JAVA_HOME": str(tmp_path / "no-jdk")}
    started = run_cli("engine", "start", env=env, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    (note,) = started.stderr.strip().splitlines()
    assert note.startswith("note: Java 17+ not found (JAVA_HOME=")
    assert note.endswith("using the fallback engine osmem (in memory, not Lucene; "
                         "SCHOLARFLOW_ENGINE=osmem says so quietly)")  # fmt: skip
    assert started.stdout.startswith("running: osmem ")
    assert "(fallback: in memory, not Lucene)" in started.stdout
    status = json_out(run_cli("engine", "status", "--json", env=env, cwd=tmp_path))
    assert (status["running"], status["kind"], status["note"]) == (True, "osmem", note[6:])


def test_the_fallback_engines_data_migrates_into_the_real_engine(
    engine: SharedEngine, settings: Settings, home: Path, tmp_path: Path
) -> None:
    fallback = Settings(_env_file=None, home=home, engine=EngineKind.OSMEM)
    seed_index(fallback)
    assert EmbeddedEngine(home).persist() is not None
    EmbeddedEngine(home).stop()

    env = {"SCHOLARFLOW_HOME": str(home), "SCHOLARFLOW_ES_URL": engine.url}
    result = json_out(run_cli("engine", "migrate", "--json", env=env, cwd=tmp_path))
    assert result["indices"]["papers-000001"] == 32
    assert result["aliases"] == ["papers"]
    found = search_papers(settings, "leukopenia rituximab")
    assert found["hits"][0]["doi"] == "10.1080/25785826.2025.2563427"
    assert index_status(settings)["analysis_profile"] == "stock"  # as the fallback built it
    again = one_line_error(run_cli("engine", "migrate", env=env, cwd=tmp_path))
    assert again.endswith("exist already in the engine: nothing was migrated (delete them "
                          "first, or migrate into an empty engine)")  # fmt: skip


def test_an_engine_that_lives_but_does_not_answer_is_named_never_replaced(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process stands in for an engine too busy to answer (no engine is needed to show how
    its state is read): its state file is kept, the command says so in one line, and `stop`
    still stops it."""
    monkeypatch.setattr("scholarflow.engine.lifecycle.ANSWER_PATIENCE", 1.0)
    silent = subprocess.Popen(["sleep", "120"])
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    engine = EmbeddedEngine(home)
    engine.dir.mkdir(parents=True)
    engine.state_file.write_text(f'{{"pid": {silent.pid}, "url": "{url}", "started_at": "x"}}')
    try:
        with pytest.raises(EngineStartError, match="runs but has not answered") as refused:
            engine.ensure()  # a second engine on the same data is not started
        assert "\n" not in str(refused.value) and str(silent.pid) in str(refused.value)
        assert engine.state_file.exists()
        assert engine.stop() is True
        silent.wait(timeout=10)  # stopped (and reaped by `stop`): it would sleep two minutes
        assert engine.status() is None and not engine.state_file.exists()
    finally:
        silent.kill()
