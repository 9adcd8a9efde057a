"""The embedded engine: one `osmem-server` per home directory, shared by concurrent commands.

The first command that needs it starts it in the background and records its pid and URL under
`<home>/engine/`; later commands reuse it. The engine keeps data in memory, so every command
that writes calls `persist()`: a snapshot of every index and alias in the engine's own seed
format, switched into place atomically, which the next start loads.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from elasticsearch import Elasticsearch, helpers
from osmem_server import resolve_binary

from scholarflow.lock import LOCK_INDEX
from scholarflow.search_client import PlainJsonNode

# Loading a large snapshot re-indexes it: 20k documents take ~30 s on two cores.
STARTUP_TIMEOUT = 180.0
_VOLATILE_SETTINGS = ("creation_date", "uuid", "version", "provided_name", "replication")
KEEP_SNAPSHOTS = 2


class EngineStartError(RuntimeError):
    """The embedded engine could not be started."""


class PersistError(RuntimeError):
    """The engine's data could not be saved under the home directory (disk full, read-only)."""


@dataclass
class EngineState:
    pid: int
    url: str
    started_at: str
    version: str = ""


class EmbeddedEngine:
    def __init__(self, home: Path) -> None:
        self.dir = home / "engine"
        self.state_file = self.dir / "engine.json"
        self.snapshots = self.dir / "snapshots"
        self.current = self.dir / "current"
        self.log_file = self.dir / "engine.log"

    # --- lifecycle -------------------------------------------------------------------------

    def status(self) -> EngineState | None:
        """The running engine, or None (a stale pid file is removed)."""
        try:
            state = EngineState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
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

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the engine; data was persisted by the commands that wrote it."""
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

    def _start(self) -> EngineState:
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [resolve_binary(), "--addr", "127.0.0.1:0", "--no-stdin-watch", "--no-ja"]
        if self.current.exists():
            args += ["--seed", str(self.current.resolve())]
        ready = self.dir / "ready.json"
        ready.unlink(missing_ok=True)
        with open(ready, "wb") as out, open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            line = ready.read_bytes().split(b"\n", 1)[0]
            if line.endswith(b"}"):
                info = orjson.loads(line)
                state = EngineState(
                    process.pid, info["url"], datetime.now(UTC).isoformat(), info.get("version", "")
                )
                self._write_atomically(self.state_file, json.dumps(asdict(state)).encode())
                return state
            if process.poll() is not None:
                break
            time.sleep(0.05)
        process.kill()
        tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise EngineStartError(
            f"the embedded engine did not start: {tail[0]} (log {self.log_file})"
        )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- persistence -----------------------------------------------------------------------

    def persist(self) -> Path | None:
        """Snapshot every index and alias, then switch `current` to it in one rename.

        Writer-lock leases are left out: a restart ends every run that held one, and a lease
        loaded back would hold off the next runs until it expired."""
        state = self.status()
        if state is None:
            return None
        client = Elasticsearch(state.url, node_class=PlainJsonNode, request_timeout=120)
        with self._lock():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = self.snapshots / stamp
            partial = self.snapshots / f".{stamp}.partial"
            try:
                partial.mkdir(parents=True)
                aliases: list[dict[str, Any]] = []
                for name, info in client.indices.get(index="*").body.items():
                    if name == LOCK_INDEX:
                        continue  # leases die with the engine: its writers lost it too
                    _write_index(client, partial, name, info)
                    aliases += [
                        {"add": {"index": name, "alias": a}} for a in info.get("aliases", {})
                    ]
                (partial / "aliases.json").write_bytes(orjson.dumps({"actions": aliases}))
                partial.rename(target)
                link = self.dir / ".current.new"
                link.unlink(missing_ok=True)
                link.symlink_to(target.relative_to(self.dir))
                link.replace(self.current)
            except OSError as exc:
                # The previous snapshot stays current; a half-written one must not fill the disk.
                shutil.rmtree(partial, ignore_errors=True)
                raise PersistError(
                    f"cannot save the engine's data under {self.snapshots}: "
                    f"{exc.strerror or exc} (the data stays in the running engine; free space "
                    "and run the command again)"
                ) from exc
            self._prune()
        return target

    def _prune(self) -> None:
        keep = sorted(p for p in self.snapshots.iterdir() if not p.name.startswith("."))
        for old in keep[:-KEEP_SNAPSHOTS]:
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)


def _write_index(client: Elasticsearch, folder: Path, name: str, info: dict[str, Any]) -> None:
    index_settings = dict(info.get("settings", {}).get("index", {}))
    for key in _VOLATILE_SETTINGS:
        index_settings.pop(key, None)
    body = {"settings": {"index": index_settings}, "mappings": info.get("mappings", {})}
    (folder / f"{name}.index.json").write_bytes(orjson.dumps(body))
    with open(folder / f"{name}.ndjson", "wb") as out:
        for hit in helpers.scan(client, index=name, query={"query": {"match_all": {}}}, size=1000):
            out.write(orjson.dumps({"index": {"_id": hit["_id"]}}) + b"\n")
            out.write(orjson.dumps(hit["_source"]) + b"\n")


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
