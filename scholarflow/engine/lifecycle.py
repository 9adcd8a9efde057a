"""Starting, finding and stopping the embedded engine of a home directory, whichever its kind.

Both kinds are a child process that prints one JSON line with its URL on stdout once it serves
and logs to `<home>/engine/engine.log`; the pid, URL and kind go to `<home>/engine/engine.json`,
which later commands read. A file lock orders concurrent starts, so four commands starting at
once share one engine.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from scholarflow.engine import opensearch, osmem
from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.errors import ScholarflowError
from scholarflow.settings import EngineKind, Settings

log = logging.getLogger("scholarflow.engine")

# A cold OpenSearch start takes 3-25 s; osmem loading a large snapshot re-indexes it (~30 s
# for 20k documents on two cores).
STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
SHARDS_TIMEOUT = 120.0
# Below this much free space OpenSearch cannot even write its cluster state: refuse to start
# with one clear line rather than start an engine that never becomes ready.
MIN_FREE_BYTES = 50 << 20
LOG_ROTATE_BYTES = 10 << 20


class EngineStartError(ScholarflowError):
    """The embedded engine could not be started."""


@dataclass
class EngineState:
    pid: int
    url: str
    started_at: str
    version: str = ""
    kind: str = EngineKind.OSMEM.value
    lucene: str = ""
    # Why this kind runs where another was asked for (the fallback's one line), or "".
    note: str = ""


class EmbeddedEngine:
    def __init__(
        self,
        home: Path,
        *,
        kind: EngineKind = EngineKind.AUTO,
        heap: str = "1g",
        port: int = 0,
        node_settings: dict[str, str] | None = None,
    ) -> None:
        self.dir = home / "engine"
        self.state_file = self.dir / "engine.json"
        self.log_file = self.dir / "engine.log"
        self.kind = EngineKind(kind)
        self.heap = heap
        self.port = port
        self.node_settings = node_settings or {}

    def status(self) -> EngineState | None:
        """The running engine, or None (a stale pid file is removed)."""
        try:
            raw = json.loads(self.state_file.read_text())
            state = EngineState(
                **{f.name: raw[f.name] for f in fields(EngineState) if f.name in raw}
            )
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if _alive(state.pid) and _answers(state.url):
            return state
        self.state_file.unlink(missing_ok=True)
        return None

    def ensure(self) -> EngineState:
        """The running engine, started now if no command has started it yet."""
        state = self.status()
        if state:
            return state
        with self._lock():
            return self.status() or self._start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the engine (SIGTERM: OpenSearch closes its shards cleanly)."""
        with self._lock():
            state = self.status()
            if state is None:
                return False
            os.kill(state.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(state.pid):
                os.kill(state.pid, signal.SIGKILL)
            self.state_file.unlink(missing_ok=True)
            return True

    def persist(self) -> Path | None:
        """Snapshot the fallback engine's memory to disk; the real engine is durable already."""
        state = self.status()
        if state is None or state.kind != EngineKind.OSMEM:
            return None
        with self._lock():
            return osmem.persist(state.url, self.dir)

    # --- starting --------------------------------------------------------------------------

    def _start(self) -> EngineState:
        self.dir.mkdir(parents=True, exist_ok=True)
        kind, args, note = self._choose()
        if note:
            log.warning(note)
        info, pid = self._launch(args)
        if kind is EngineKind.OPENSEARCH:
            self._await_shards(info["url"], pid)
            # Leases die with the engine: every run that held one lost its engine too.
            httpx.delete(f"{info['url']}/{LOCK_INDEX}", timeout=30)
        state = EngineState(
            pid=pid,
            url=info["url"],
            started_at=datetime.now(UTC).isoformat(),
            version=info.get("version", ""),
            kind=kind.value,
            lucene=info.get("lucene", ""),
            note=note,
        )
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(state)))
        temporary.replace(self.state_file)
        return state

    def _choose(self) -> tuple[EngineKind, list[str], str]:
        """(kind, command line, the one line to say about it)."""
        if self.kind is EngineKind.OSMEM:
            return EngineKind.OSMEM, osmem.command(self.dir), ""
        try:
            java = opensearch.find_java()
            lib = opensearch.build(self.dir / "build.log")
        except opensearch.Unavailable as exc:
            if self.kind is EngineKind.OPENSEARCH:
                raise EngineStartError(f"the embedded OpenSearch cannot run: {exc}") from exc
            note = (
                f"{exc}: using the fallback engine osmem (in memory, not Lucene; "
                "SCHOLARFLOW_ENGINE=osmem says so quietly)"
            )
            return EngineKind.OSMEM, osmem.command(self.dir), note
        free = shutil.disk_usage(self.dir).free
        if free < MIN_FREE_BYTES:
            raise EngineStartError(
                f"only {free / 2**20:.1f} MB free under {self.dir}: the engine needs at least "
                f"{MIN_FREE_BYTES >> 20} MB for its data (free space, or point SCHOLARFLOW_HOME "
                "at a larger disk)"
            )
        note = ""
        if (self.dir / "current").exists() and not (self.dir / "data").exists():
            note = (
                f"the fallback engine's data under {self.dir / 'current'} is not in this engine: "
                "`scholarflow engine migrate` carries it over"
            )
        args = opensearch.command(
            java, lib, self.dir, heap=self.heap, port=self.port, node_settings=self.node_settings
        )
        (self.dir / "tmp").mkdir(exist_ok=True)
        return EngineKind.OPENSEARCH, args, note

    def _launch(self, args: list[str]) -> tuple[dict, int]:
        ready = self.dir / "ready.json"
        ready.unlink(missing_ok=True)
        if self.log_file.exists() and self.log_file.stat().st_size > LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(ready, "wb") as out, open(self.log_file, "ab") as errors:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=errors, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            line = ready.read_bytes().split(b"\n", 1)[0]
            if line.endswith(b"}"):
                return orjson.loads(line), process.pid
            if process.poll() is not None:
                break
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise EngineStartError(
            f"the embedded engine did not start: {self._cause(start)} (log {self.log_file})"
        )

    def _await_shards(self, url: str, pid: int) -> None:
        """Wait until every shard recovered (after a crash, from its translog): the first
        write must find its index ready, not a 503."""
        wait = f"{url}/_cluster/health?wait_for_status=yellow&timeout={SHARDS_TIMEOUT:.0f}s"
        health = httpx.get(wait, timeout=SHARDS_TIMEOUT + 10).json()
        if health.get("timed_out") or health.get("status") not in ("green", "yellow"):
            os.kill(pid, signal.SIGKILL)
            raise EngineStartError(
                f"the embedded engine started, but its indices did not recover within "
                f"{SHARDS_TIMEOUT:.0f} s (status {health.get('status')}; log {self.log_file})"
            )

    def _cause(self, since: int) -> str:
        """The launcher's own one-line reason, else what the JVM or the engine said last."""
        with open(self.log_file, "rb") as handle:
            handle.seek(since)
            logged = handle.read().decode(errors="replace").strip().splitlines()
        printed = (self.dir / "ready.json").read_text(errors="replace").strip().splitlines()
        lines = logged + printed
        for line in reversed(lines):
            if "cannot start:" in line:
                reason = line.split("cannot start:", 1)[1].strip()
                if "node locks" in reason or "LockObtainFailed" in reason:
                    reason += f" (another engine uses {self.dir / 'data'})"
                return reason
            if "OutOfMemoryError" in line:
                return f"the Java heap is too small (SCHOLARFLOW_ENGINE_HEAP={self.heap}): {line}"
        return lines[-1][:300] if lines else "no output"

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def embedded_engine(settings: Settings) -> EmbeddedEngine:
    """The embedded engine of the settings' home, of the kind and size they ask for."""
    return EmbeddedEngine(
        settings.home_dir,
        kind=settings.engine,
        heap=settings.engine_heap,
        port=settings.engine_port,
    )


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, and it has exited
    except ChildProcessError:
        pass  # started by another command: not ours to reap
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
