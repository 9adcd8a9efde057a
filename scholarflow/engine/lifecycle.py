"""Starting, finding and stopping the embedded engine of a home directory, whichever its kind.

Both kinds are a child process that prints one JSON line with its URL on stdout once it serves
and logs to `<home>/engine/engine.log`; the pid, URL and kind go to `<home>/engine/engine.json`,
which later commands read. A file lock orders concurrent starts, so four commands starting at
once share one engine.

The real engine may also run as a local cluster of several nodes (`nodes` > 1, cluster.py):
each node is such a child process with its own folder, and the state file lists them all. The
engine runs while any node answers; a node found dead is started again by `engine start`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import httpx

from scholarflow.engine import cluster, opensearch, osmem
from scholarflow.engine.cluster import NodeState
from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.engine.process import EngineStartError, alive, answers, await_ready, spawn
from scholarflow.settings import EngineKind, Settings

log = logging.getLogger("scholarflow.engine")

STOP_TIMEOUT = 30.0
SHARDS_TIMEOUT = 120.0
# Below this much free space OpenSearch cannot even write its cluster state: refuse to start
# with one clear line rather than start an engine that never becomes ready.
MIN_FREE_BYTES = 50 << 20
# How long a live engine that does not answer is waited for before `status` says so.
ANSWER_PATIENCE = 30.0


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
    # The nodes of a local cluster (empty for one node): name, ports, pid, URL.
    nodes: list[dict] = field(default_factory=list)

    @property
    def cluster_nodes(self) -> list[NodeState]:
        return [NodeState(**node) for node in self.nodes]

    @property
    def urls(self) -> list[str]:
        """Every node's address (the client's node pool), or the one engine's."""
        return [address for _, address in self.processes]

    @property
    def processes(self) -> list[tuple[int, str]]:
        """(pid, address) of every node, or of the one engine."""
        return [(node.pid, node.address) for node in self.cluster_nodes] or [(self.pid, self.url)]


class EmbeddedEngine:
    def __init__(
        self,
        home: Path,
        *,
        kind: EngineKind = EngineKind.AUTO,
        heap: str = "1g",
        port: int = 0,
        node_settings: dict[str, str] | None = None,
        nodes: int = 1,
        heap_given: bool = False,
    ) -> None:
        self.dir = home / "engine"
        self.state_file = self.dir / "engine.json"
        self.log_file = self.dir / "engine.log"
        self.kind = EngineKind(kind)
        self.heap = heap
        self.port = port
        self.node_settings = node_settings or {}
        self.nodes = nodes
        # Whether `heap` was asked for: a cluster's node gets cluster.NODE_HEAP otherwise.
        self.heap_given = heap_given
        self._cluster_info: dict[str, str] = {}

    def status(self) -> EngineState | None:
        """The running engine, or None once its processes are gone (their state file is removed
        then). An engine whose process lives but does not answer (a long collection, a loaded
        machine) is waited for up to `ANSWER_PATIENCE`, then named in one line: taking it for
        gone would start a second engine on the same data."""
        state = self._recorded()
        if state is None:
            return None
        deadline = time.monotonic() + ANSWER_PATIENCE
        while True:
            living = [url for pid, url in state.processes if alive(pid)]
            if not living:
                self.state_file.unlink(missing_ok=True)
                return None
            if any(answers(url) for url in living):
                return state
            if time.monotonic() >= deadline:
                pids = ", ".join(str(pid) for pid, _ in state.processes)
                raise EngineStartError(
                    f"the embedded engine of {self.dir} (pid {pids}) runs but has not answered "
                    f"at {', '.join(living)} for {ANSWER_PATIENCE:.0f} s: see {self.log_file}, "
                    "or `scholarflow engine stop` to stop it"
                )
            time.sleep(1.0)

    def _recorded(self) -> EngineState | None:
        """The engine the state file names, running or not."""
        try:
            raw = json.loads(self.state_file.read_text())
            return EngineState(
                **{f.name: raw[f.name] for f in fields(EngineState) if f.name in raw}
            )
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def down_nodes(self, state: EngineState) -> list[NodeState]:
        """The nodes of a running cluster that do not answer."""
        return [n for n in state.cluster_nodes if not (alive(n.pid) and answers(n.address))]

    def ensure(self) -> EngineState:
        """The running engine, started now if no command has started it yet."""
        state = self.status()
        if state:
            return state
        with self._lock():
            return self.status() or self._start()

    def start(self, *, exact: bool = True) -> EngineState:
        """The engine with the asked number of nodes, started now, with any node of a running
        cluster that is down started again (and the cluster green again). Without `exact`, an
        engine that runs with another number of nodes is taken as it is."""
        state = self.ensure()
        running = max(len(state.nodes), 1)
        if exact and running != self.nodes:
            raise EngineStartError(
                f"the embedded engine of this home runs {running} node(s), not {self.nodes}: "
                "`scholarflow engine stop` first (its data stays)"
            )
        down = self.down_nodes(state) if state.nodes else []
        if down:
            with self._lock():
                state = self._restart_nodes(state, [node.name for node in down])
        return state

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the engine, every node of it (SIGTERM: OpenSearch closes its shards cleanly)."""
        with self._lock():
            state = self._recorded()  # answering or not: a hung engine is stopped too
            pids = [pid for pid, _ in state.processes] if state else []
            if not any(alive(pid) for pid in pids):
                self.state_file.unlink(missing_ok=True)
                return False
            for pid in pids:
                if alive(pid):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in pids:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            self.state_file.unlink(missing_ok=True)
            return True

    def kill_node(self, name: str) -> int:
        """SIGKILL one node of the running cluster (fault tests, the soak); its pid."""
        state = self.status()
        node = next((n for n in state.cluster_nodes if n.name == name), None) if state else None
        if node is None:
            raise EngineStartError(f"no node {name} in the running cluster of {self.dir}")
        os.kill(node.pid, signal.SIGKILL)
        while alive(node.pid):
            time.sleep(0.02)
        return node.pid

    def restart_node(self, name: str, *, wait_green: bool = True) -> EngineState:
        """Start one node of the running cluster again, at its own addresses and data."""
        with self._lock():
            state = self.status()
            if state is None:
                raise EngineStartError(f"no cluster runs under {self.dir}")
            return self._restart_nodes(state, [name], wait_green=wait_green)

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
        nodes: list[NodeState] = []
        if kind is EngineKind.OPENSEARCH and self.nodes > 1:
            nodes = self._start_cluster()
            info = {"url": nodes[0].url, **self._cluster_info}
            pid = nodes[0].pid
        else:
            info, pid = self._launch(args)
        if kind is EngineKind.OPENSEARCH:
            self._await_shards(info["url"], pid, len(nodes))
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
            nodes=[asdict(node) for node in nodes],
        )
        self._save(state)
        return state

    def _save(self, state: EngineState) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(state)))
        temporary.replace(self.state_file)

    def _start_cluster(self) -> list[NodeState]:
        """Every node of a new local cluster, started together (a node waits for the others
        to elect a cluster manager); each recorded with its pid and URL."""
        nodes = cluster.plan_nodes(self.nodes, self.port)
        self._spawn_nodes(nodes, nodes)
        return nodes

    def _restart_nodes(
        self, state: EngineState, names: list[str], *, wait_green: bool = True
    ) -> EngineState:
        nodes = state.cluster_nodes
        again = [node for node in nodes if node.name in names]
        self._spawn_nodes(again, nodes)
        state.nodes = [asdict(node) for node in nodes]
        self._save(state)
        if wait_green:
            self._await_shards(again[0].url, again[0].pid, len(nodes))
        return state

    def _spawn_nodes(self, started: list[NodeState], nodes: list[NodeState]) -> None:
        """Start `started` (nodes of the cluster `nodes`) at once, and wait for each to serve;
        their pids and URLs are filled in."""
        java = opensearch.find_java()
        lib = opensearch.build(self.dir / "build.log")
        launched = []
        for node in started:
            folder = cluster.node_dir(self.dir, node)
            (folder / "tmp").mkdir(parents=True, exist_ok=True)
            args = opensearch.command(
                java,
                lib,
                folder,
                heap=self._node_heap(),
                port=node.http_port,
                node_settings={
                    **cluster.node_settings(self.dir, node, nodes),
                    **self.node_settings,
                },
            )
            launched.append((node, spawn(args, folder)))
        try:
            for node, (process, ready, log_file, since) in launched:
                info = await_ready(process, ready, log_file, since, self._node_heap())
                node.pid, node.url = process.pid, info["url"]
                self._cluster_info = {k: info.get(k, "") for k in ("version", "lucene")}
        except EngineStartError:
            for _, (process, *_rest) in launched:
                process.kill()
                process.wait()
            raise

    def _node_heap(self) -> str:
        return self.heap if self.heap_given else cluster.NODE_HEAP

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
        process, ready, log_file, since = spawn(args, self.dir)
        return await_ready(process, ready, log_file, since, self.heap), process.pid

    def _await_shards(self, url: str, pid: int, nodes: int = 0) -> None:
        """Wait until every shard recovered (after a crash, from its translog): the first
        write must find its index ready, not a 503. A cluster waits for all its nodes and
        every replica (green)."""
        wanted = (
            f"wait_for_status=green&wait_for_nodes={nodes}" if nodes else ("wait_for_status=yellow")
        )
        wait = f"{url}/_cluster/health?{wanted}&timeout={SHARDS_TIMEOUT:.0f}s"
        health = httpx.get(wait, timeout=SHARDS_TIMEOUT + 10).json()
        if health.get("timed_out") or health.get("status") not in ("green", "yellow"):
            if not nodes:
                os.kill(pid, signal.SIGKILL)
            raise EngineStartError(
                f"the embedded engine started, but its indices did not recover within "
                f"{SHARDS_TIMEOUT:.0f} s (status {health.get('status')}; log {self.log_file})"
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


def embedded_engine(settings: Settings) -> EmbeddedEngine:
    """The embedded engine of the settings' home, of the kind and size they ask for."""
    return EmbeddedEngine(
        settings.home_dir,
        kind=settings.engine,
        heap=settings.engine_heap,
        port=settings.engine_port,
        nodes=settings.engine_nodes,
        heap_given="engine_heap" in settings.model_fields_set,
    )
