"""The fallback engine for a machine without Java: `osmem-server`, in memory.

It differs from Lucene (Chinese matching, BM25, refresh, plugins), so nothing is tuned on it. It
keeps data in memory: every command that writes calls `persist()`, which snapshots every index
and alias in the engine's own seed format and switches `current` to it in one rename; the next
start loads it. `scholarflow engine migrate` carries such a snapshot into the real engine.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers
from osmem_server import resolve_binary

from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.engine.transport import EngineNode
from scholarflow.errors import ScholarflowError

KEEP_SNAPSHOTS = 2
_VOLATILE_SETTINGS = ("creation_date", "uuid", "version", "provided_name", "replication")


class PersistError(ScholarflowError):
    """The engine's data could not be saved under the home directory (disk full, read-only)."""


def command(engine_dir: Path) -> list[str]:
    args = [resolve_binary(), "--addr", "127.0.0.1:0", "--no-stdin-watch", "--no-ja"]
    current = engine_dir / "current"
    if current.exists():
        args += ["--seed", str(current.resolve())]
    return args


def persist(url: str, engine_dir: Path) -> Path:
    """Snapshot every index and alias, then switch `current` to it in one rename.

    Writer-lock leases are left out: a restart ends every run that held one, and a lease
    loaded back would hold off the next runs until it expired."""
    client = Elasticsearch(url, node_class=EngineNode, request_timeout=120)
    snapshots = engine_dir / "snapshots"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = snapshots / stamp
    partial = snapshots / f".{stamp}.partial"
    try:
        partial.mkdir(parents=True)
        aliases: list[dict[str, Any]] = []
        for name, info in client.indices.get(index="*").body.items():
            if name == LOCK_INDEX:
                continue  # leases die with the engine: its writers lost it too
            _write_index(client, partial, name, info)
            aliases += [{"add": {"index": name, "alias": a}} for a in info.get("aliases", {})]
        (partial / "aliases.json").write_bytes(orjson.dumps({"actions": aliases}))
        partial.rename(target)
        link = engine_dir / ".current.new"
        link.unlink(missing_ok=True)
        link.symlink_to(target.relative_to(engine_dir))
        link.replace(engine_dir / "current")
    except OSError as exc:
        # The previous snapshot stays current; a half-written one must not fill the disk.
        shutil.rmtree(partial, ignore_errors=True)
        raise PersistError(
            f"cannot save the engine's data under {snapshots}: {exc.strerror or exc} (the data "
            "stays in the running engine; free space and run the command again)"
        ) from exc
    keep = sorted(p for p in snapshots.iterdir() if not p.name.startswith("."))
    for old in keep[:-KEEP_SNAPSHOTS]:
        shutil.rmtree(old, ignore_errors=True)
    return target


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
