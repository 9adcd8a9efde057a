"""Versioned paper indices behind an alias, built from the templates in `index_mappings/`
(scholarflow/stores/templates.py), and the store indices beside them.

Searches always go to the alias (`papers`); data lives in `papers-000001`, `papers-000002`, …
so a re-index can build the next index while the current one keeps serving, and a rollback is
one alias move back to the previous generation.
"""

from __future__ import annotations

import re
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from scholarflow.errors import ScholarflowError
from scholarflow.settings import AnalysisProfile, VectorMapping
from scholarflow.stores.layout import AUTO_REPLICAS, Layout
from scholarflow.stores.templates import (
    MAPPINGS_FILE,
    SETTINGS_FILE,
    install_templates,
    load_mapping_file,
    resolve_profile,
)

# A bulk load writes faster with nothing to replicate or refresh (auto-expand off, or the engine
# adds the replicas back); the serving values come back before the index is verified.
LOAD_SETTINGS = {"number_of_replicas": 0, "auto_expand_replicas": False, "refresh_interval": "-1"}
# An ingest of more than one batch refreshes the live index itself, every few thousand
# documents (tasks/index_run.py), instead of the engine every second: on the embedded engine a
# refresh a second costs about 0.6 ms of CPU a document, 40% of indexing it. Not a build's -1
# (`is_loading` must never take the live index for an unfinished build), and restored when the
# ingest ends; a value left by a run that died is put back by the next.
INGEST_REFRESH = "30s"
# The bookkeeping stores (locks, manifest, sources, dead letters, DOI cache) are small: one shard,
# with no replica on one node (which serves them green) and one on a cluster (a store whose only
# copy was on a node that died would stop every run: scholarflow/stores/layout.py).
STORE_SETTINGS = {"number_of_shards": 1, "auto_expand_replicas": AUTO_REPLICAS}


class IndexStateError(ScholarflowError):
    """The indices are not in a state that allows the operation (nothing to roll back to, …)."""


class ReindexError(ScholarflowError):
    """A re-index step failed; the alias still points at the index it pointed at before."""

    prefix = "re-index failed, the alias was not moved: "


class VerificationError(ReindexError):
    """A new index is not fit to serve: it is deleted and the alias left alone."""


def ensure_index(
    client: Elasticsearch,
    name: str,
    mappings: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> None:
    """Create the store index `name` unless it exists (`settings` adds to the stores' own, e.g.
    the analyzers a percolator store shares with the papers); one that exists gets the fields
    its mappings file gained since it was created (a store's fields are only ever added, so the
    write that needs them is not refused by its strict mapping). Processes that start together
    may all find it missing: to those that lose the race to create it,
    `resource_already_exists_exception` is the index they wanted, not an error.

    A new store waits for every copy of its shard (`wait_for_active_shards: all`, at most the
    engine's 30 s): a store whose primary is alone on a node that dies before the replica has
    started has no copy left, and every write to it waits for that node."""
    try:
        current: dict[str, Any] = client.indices.get_mapping(index=name).body
    except NotFoundError:
        current = {}
    if current:
        add_new_fields(client, name, current, mappings["properties"])
        return
    try:
        client.indices.create(
            index=name,
            mappings=mappings,
            settings={**STORE_SETTINGS, **(settings or {})},
            wait_for_active_shards="all",
        )
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise


def add_new_fields(
    client: Elasticsearch, index: str, current: dict[str, Any], properties: dict[str, Any]
) -> list[str]:
    """Put into `index` (whose `get_mapping` answer is `current`) the `properties` it lacks, one
    by one, so that documents carrying a field added since it was created are not refused by
    its strict mapping: top-level fields, and the fields an object it has gained (an author's
    `affiliations`). A field the engine will not add to an existing index (one that needs an
    analyzer or an index setting the index lacks) is left for a re-index; its name is
    returned."""
    found: dict[str, Any] = next(iter(current.values()), {})
    known = found.get("mappings", {}).get("properties", {})
    refused = []
    for field, spec in properties.items():
        if field in known:
            had = known[field].get("properties")
            if had is None or "properties" not in spec:
                continue
            missing = {k: v for k, v in spec["properties"].items() if k not in had}
            if not missing:
                continue
            field, spec = field, {"properties": missing}
        try:
            client.indices.put_mapping(index=index, properties={field: spec})
        except BadRequestError:
            refused.append(field)
    return refused


def stored_documents(
    client: Elasticsearch, index: str, ids: list[str], **options: Any
) -> dict[str, dict[str, Any]]:
    """id → `_source` of the documents of `ids` that `index` holds; none while it does not
    exist (a store is created by its first write: reads cost no request to check for it)."""
    try:
        docs = client.mget(index=index, ids=ids, **options)["docs"]
    except NotFoundError:
        return {}
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


# --- generations ------------------------------------------------------------------------------


def index_name(alias: str, generation: int) -> str:
    return f"{alias}-{generation:06d}"


def generation_of(alias: str, index: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(alias)}-(\d{{6}})", index)
    return int(match.group(1)) if match else None


def generations(client: Elasticsearch, alias: str) -> list[str]:
    """Every versioned index of the alias, oldest first."""
    found = client.indices.get_settings(index=f"{alias}-*", expand_wildcards="open")
    names = [name for name in found.body if generation_of(alias, name) is not None]
    return sorted(names, key=lambda name: generation_of(alias, name) or 0)


def next_index_name(client: Elasticsearch, alias: str) -> str:
    """One generation past every existing one (a half-built leftover is skipped, not reused)."""
    existing = [generation_of(alias, name) or 0 for name in generations(client, alias)]
    return index_name(alias, max(existing, default=0) + 1)


def live_index(client: Elasticsearch, alias: str) -> str | None:
    """The index the alias points at, or None when the alias does not exist yet."""
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    names = sorted(found.body)
    return names[-1] if names else None


def ensure_live_index(
    client: Elasticsearch,
    alias: str,
    profile: AnalysisProfile | str = AnalysisProfile.AUTO,
    vectors: VectorMapping | str = VectorMapping.AUTO,
    layout: Layout | None = None,
) -> str:
    """The live index, creating the first generation (and the templates, with `layout` or the
    cluster's automatic one) on first use. An
    index created before the papers' mapping gained a field gets it (`add_new_fields`): its
    documents have none until they are written again or re-indexed."""
    current = live_index(client, alias)
    if current:
        mappings = load_mapping_file(MAPPINGS_FILE)["template"]["mappings"]
        add_new_fields(
            client, current, client.indices.get_mapping(index=current).body, mappings["properties"]
        )
        return current
    install_templates(client, alias, resolve_profile(client, profile), vectors, layout)
    first = index_name(alias, 1)
    if not client.indices.exists(index=first):
        client.indices.create(index=first, aliases={alias: {}})
    else:
        client.indices.update_aliases(actions=[{"add": {"index": first, "alias": alias}}])
    return first


# --- building, switching and pruning ----------------------------------------------------------


def create_for_load(client: Elasticsearch, name: str) -> None:
    """A new index from the installed templates, with replicas and refresh off for the load.

    A node that dies after making the index and before answering has the client send the
    request again elsewhere: an empty index in load settings is ours (the lock keeps others
    out)."""
    try:
        client.indices.create(index=name, settings={"index": LOAD_SETTINGS})
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception" or not is_loading(client, name):
            raise
        if client.count(index=name)["count"]:
            raise


def serving_settings(layout: Layout | None = None) -> dict[str, Any]:
    """The replica and refresh values a finished index serves with (`settings.json`, with the
    layout's replicas)."""
    template = load_mapping_file(SETTINGS_FILE)["template"]["settings"]
    values = {key: template[key] for key in LOAD_SETTINGS}
    if layout is not None:
        values |= {"number_of_replicas": 0, **layout.replica_settings()}
    return values


def restore_serving_settings(
    client: Elasticsearch, name: str, layout: Layout | None = None
) -> None:
    client.indices.put_settings(index=name, settings={"index": serving_settings(layout)})
    client.indices.refresh(index=name)


def is_loading(client: Elasticsearch, name: str) -> bool:
    """True for an index still in its load settings: a build that never finished."""
    return refresh_interval(client, name) == LOAD_SETTINGS["refresh_interval"]


def refresh_interval(client: Elasticsearch, name: str) -> str | None:
    """The index's own refresh interval (None: the engine's default)."""
    found = client.indices.get_settings(index=name, name="index.refresh_interval")
    value = found.body.get(name, {}).get("settings", {}).get("index", {}).get("refresh_interval")
    return None if value is None else str(value)


def set_refresh_interval(client: Elasticsearch, name: str, value: str | None) -> None:
    client.indices.put_settings(index=name, settings={"index": {"refresh_interval": value}})


def switch_alias(client: Elasticsearch, alias: str, new: str, old: str | None) -> None:
    """Point the alias at `new` in one atomic `_aliases` call.

    Removing `old` with `must_exist` makes the call fail as a whole if someone else moved the
    alias in the meantime, so a stale plan never overwrites a newer switch.
    """
    actions: list[dict[str, Any]] = []
    if old:
        actions.append({"remove": {"index": old, "alias": alias, "must_exist": True}})
    actions.append({"add": {"index": new, "alias": alias}})
    client.indices.update_aliases(actions=actions)


def rollback_target(client: Elasticsearch, alias: str) -> tuple[str, str]:
    """(live index, the newest finished generation before it)."""
    live = live_index(client, alias)
    if live is None:
        raise IndexStateError(f"the alias '{alias}' does not exist yet: nothing to roll back")
    current = generation_of(alias, live) or 0
    older = [
        name
        for name in generations(client, alias)
        if (generation_of(alias, name) or 0) < current and not is_loading(client, name)
    ]
    if not older:
        raise IndexStateError(f"no index before {live} is kept: nothing to roll back to")
    return live, older[-1]


def roll_back(client: Elasticsearch, alias: str) -> dict[str, str]:
    """Point the alias back at the previous generation; the newer index stays for a retry."""
    live, previous = rollback_target(client, alias)
    switch_alias(client, alias, previous, live)
    return {"alias": alias, "from": live, "to": previous}


def prune_plan(names: list[str], live: str, loading: set[str], keep: int) -> dict[str, list[str]]:
    """Which generations to keep and delete: the live one stays, with the `keep` newest
    finished others; unfinished builds (still in load settings) were never served and go."""
    others = [name for name in names if name != live]
    finished = [name for name in others if name not in loading]
    kept = finished[-keep:] if keep else []
    return {
        "kept": kept,
        "deleted": [n for n in others if n in loading] + [n for n in finished if n not in kept],
    }


def prune(client: Elasticsearch, alias: str, keep: int) -> dict[str, list[str]]:
    """Delete the generations `prune_plan` gives up; returns what was kept and deleted."""
    live = live_index(client, alias)
    names = generations(client, alias)
    loading = {name for name in names if name != live and is_loading(client, name)}
    plan = prune_plan(names, live or "", loading, keep)
    for name in plan["deleted"]:
        client.indices.delete(index=name, ignore_unavailable=True)
    return plan
