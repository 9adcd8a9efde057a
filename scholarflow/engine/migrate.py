"""Carry the fallback engine's data into a real engine: `scholarflow engine migrate`.

An osmem snapshot (`<home>/engine/current`) is one folder: for each index its settings and
mappings (`NAME.index.json`) and its documents as bulk lines (`NAME.ndjson`), and the aliases
(`aliases.json`). Nothing is overwritten: an index that exists already stops the migration before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers

from scholarflow.indices import IndexStateError, install_templates, profile_of

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
    for ok, item in helpers.streaming_bulk(
        client, _actions(index, path), chunk_size=500, raise_on_error=False
    ):
        if not ok:
            raise IndexStateError(f"{index}: the engine refused a document: {item}")
        loaded += 1
    return loaded


def _actions(index: str, path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as lines:
        for action in lines:
            source = next(lines)
            yield {
                "_index": index,
                "_id": orjson.loads(action)["index"]["_id"],
                "_source": orjson.loads(source),
            }
