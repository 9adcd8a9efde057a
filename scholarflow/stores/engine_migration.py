"""Carry the fallback engine's data into a real engine: `scholarflow engine migrate`.

An osmem snapshot (`<home>/engine/current`) is one folder: for each index its settings and
mappings (`NAME.index.json`) and its documents as bulk lines (`NAME.ndjson`), and the aliases
(`aliases.json`). Nothing is overwritten: an index that exists already stops the migration before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from scholarflow.stores.bulk import Action, send
from scholarflow.stores.indices import IndexStateError
from scholarflow.stores.templates import install_templates, profile_of

# Documents held in memory at once while a snapshot's index is loaded.
LOAD_CHUNK = 500
# What an index's settings carry across; the rest (osmem's own bookkeeping) is the engine's.
KEPT_SETTINGS = ("analysis", "number_of_shards", "number_of_replicas", "refresh_interval")


def snapshot_of(home: Path) -> Path:
    current = home / "engine" / "current"
    if not current.exists():
        raise IndexStateError(
            f"no snapshot of the fallback engine under {current}: nothing to migrate"
        )
    return current.resolve()


def migrate_snapshot(client: Elasticsearch, snapshot: Path, alias: str) -> dict[str, Any]:
    """Create each index of the snapshot, load its documents, then its aliases and templates."""
    names = sorted(p.name.removesuffix(".index.json") for p in snapshot.glob("*.index.json"))
    clashes = [name for name in names if client.indices.exists(index=name)]
    if clashes:
        raise IndexStateError(
            f"{', '.join(clashes)} exist already in the engine: nothing was migrated "
            "(delete them first, or migrate into an empty engine)"
        )
    counts: dict[str, int] = {}
    profiles: set[str] = set()
    for name in names:
        body = orjson.loads((snapshot / f"{name}.index.json").read_bytes())
        index_settings = body.get("settings", {}).get("index", {})
        kept = {key: index_settings[key] for key in KEPT_SETTINGS if key in index_settings}
        client.indices.create(index=name, settings={"index": kept}, mappings=body["mappings"])
        if name.startswith(f"{alias}-"):
            profiles.add(profile_of({"index": kept}))
        counts[name] = _load(client, name, snapshot / f"{name}.ndjson")
    actions = orjson.loads((snapshot / "aliases.json").read_bytes())["actions"]
    if actions:
        client.indices.update_aliases(actions=actions)
    if profiles:
        install_templates(client, alias, max(profiles))
    client.indices.refresh(index=",".join(names) or "_all")
    return {
        "snapshot": str(snapshot),
        "indices": counts,
        "aliases": sorted({a["add"]["alias"] for a in actions}),
    }


def _load(client: Elasticsearch, index: str, path: Path) -> int:
    loaded = 0
    actions = _actions(index, path)
    while chunk := list(islice(actions, LOAD_CHUNK)):
        sent = send(client, chunk)
        if failures := sent.failures():
            position, refused = failures[0]
            doc_id = chunk[position][0]["index"]["_id"]
            raise IndexStateError(
                f"{index}: the engine refused document {doc_id}: {refused.reason}"
            )
        loaded += sent.written
    return loaded


def _actions(index: str, path: Path) -> Iterator[Action]:
    """The snapshot's bulk lines as `index` actions into `index`; documents pass as read."""
    with open(path, "rb") as lines:
        for action in lines:
            source = next(lines)
            header = {"index": {"_index": index, "_id": orjson.loads(action)["index"]["_id"]}}
            yield header, source.rstrip(b"\n")
