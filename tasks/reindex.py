"""Re-index: build the next paper index beside the live one, prove it, then switch the alias.

Plain functions do each step; thin Prefect tasks wrap them for the re-index flow. Creating the
index registers a rollback hook, so when any later step fails inside the flow's transaction the
half-built index is deleted, and the alias, moved only by the last step, never points at it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch, helpers
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_logger
from prefect.transactions import Transaction, get_transaction

from scholarflow.alerts.percolator import PercolatorError, ensure_percolator, sync
from scholarflow.alerts.watches import WatchStore
from scholarflow.engine.client import connect
from scholarflow.search.relevance import K, load_judgments, rank
from scholarflow.settings import Settings, VectorMapping
from scholarflow.stores.harvest_sources import HarvestSource, HarvestSources
from scholarflow.stores.indices import (
    IndexStateError,
    ReindexError,
    VerificationError,
    create_for_load,
    generations,
    is_loading,
    live_index,
    next_index_name,
    prune_plan,
    restore_serving_settings,
    switch_alias,
)
from scholarflow.stores.ingest_origins import SourceRegistry
from scholarflow.stores.layout import (
    AUTO,
    SWITCH_HEALTH,
    SWITCH_HEALTH_TIMEOUT,
    Layout,
    index_layout,
    wait_for_switch,
)
from scholarflow.stores.templates import install_templates, profile_of, resolve_profile
from scholarflow.stores.vector_mapping import INFO_FIELD, VECTOR_FIELD, resolve_mapping
from tasks.fetch import expand_sources
from tasks.harvest import connector_for
from tasks.harvest.http import HarvestHttp

Mode = Literal["copy", "replay"]
# Judged queries re-run against the new index before the switch.
QUERY_SAMPLE = 20
REMOVED_SAMPLE = 10
ID_CHUNK = 1000
# A server-side copy of a large index takes long; one request waits for all of it.
COPY_TIMEOUT_SECONDS = 6 * 3600

logger = get_logger("scholarflow.reindex")


@dataclass
class ReindexPlan:
    """What a re-index will do, worked out before anything changes (all a dry run does)."""

    alias: str
    mode: Mode
    live: str
    target: str
    profile: str
    live_profile: str
    live_documents: int
    live_last_indexed: str | None
    keep: int
    vectors: str = VectorMapping.NONE.value
    # The new index's layout on this cluster (scholarflow/stores/layout.py) and why.
    shards: int = 1
    replicas: str = AUTO
    layout_why: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # Harvest sources (by name) a replay harvests again, each reachable when planned.
    harvests: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    would_delete: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def layout(self) -> Layout:
        return Layout(self.shards, self.replicas, 0, self.layout_why)


def plan_reindex(client: Elasticsearch, settings: Settings, mode: Mode, keep: int) -> ReindexPlan:
    live = live_index(client, settings.alias)
    if live is None:
        raise IndexStateError(f"the alias '{settings.alias}' has no index yet: ingest first")
    documents, last_indexed = live_fingerprint(client, live)
    target = next_index_name(client, settings.alias)
    plan = ReindexPlan(
        alias=settings.alias,
        mode=mode,
        live=live,
        target=target,
        profile=resolve_profile(client, settings.analysis_profile),
        live_profile=profile_of(client.indices.get_settings(index=live)[live]["settings"]),
        live_documents=documents,
        live_last_indexed=last_indexed,
        keep=keep,
        vectors=resolve_mapping(client, settings.vector_mapping).value,
    )
    layout = index_layout(client, settings)
    plan.shards, plan.replicas, plan.layout_why = layout.shards, layout.replicas, layout.why
    if mode == "replay":
        plan.sources = SourceRegistry(client).sources(settings.alias)
        harvests = HarvestSources(client).replayed_with(settings.alias, live)
        if not plan.sources and not harvests:
            raise IndexStateError(
                f"no sources are recorded for '{settings.alias}' (they are recorded by ingest "
                "and harvest): ingest again, or re-index with --mode copy"
            )
        plan.files = list(dict.fromkeys(expand_sources(plan.sources)))  # a missing one fails here
        unreachable(settings, harvests, plan)  # and a harvest source that does not answer
        plan.harvests = [source.name for source in harvests]
    names = [*generations(client, settings.alias), target]
    loading = {name for name in names[:-1] if is_loading(client, name)}
    plan.would_delete = prune_plan(names, target, loading, keep)["deleted"]
    return plan


def unreachable(settings: Settings, sources: list[HarvestSource], plan: ReindexPlan) -> None:
    """Raise ReindexError naming the first harvest source that cannot be harvested now: a
    replay without it would lose the papers only it gave."""
    http = HarvestHttp(settings)
    try:
        for source in sources:
            problem = connector_for(source, http, settings).probe()
            if problem:
                raise ReindexError(
                    f"harvest source {source.name} ({source.url}) cannot be harvested again: "
                    f"{problem}; bring it back, remove it with `scholarflow sources remove`, or "
                    "re-index with --mode copy"
                )
    finally:
        http.close()


def live_fingerprint(client: Elasticsearch, index: str) -> tuple[int, str | None]:
    """(documents, newest `indexed_at`): changes whenever anything writes to the index."""
    client.indices.refresh(index=index)
    response = client.search(
        index=index,
        size=0,
        track_total_hits=True,
        aggs={"last": {"max": {"field": "indexed_at"}}},
    )
    last = response["aggregations"]["last"]
    return response["hits"]["total"]["value"], last.get("value_as_string") or last.get("value")


def create_target(client: Elasticsearch, plan: ReindexPlan) -> str:
    """The next index, from the current templates, in load settings."""
    install_templates(client, plan.alias, plan.profile, plan.vectors, plan.layout)
    create_for_load(client, plan.target)
    return plan.target


def copy_documents(client: Elasticsearch, plan: ReindexPlan) -> int:
    """Server-side `_reindex` from the live index; returns how many documents were created."""
    try:
        response = (
            client.options(request_timeout=COPY_TIMEOUT_SECONDS)
            .reindex(
                source={"index": plan.live, **_without_vectors(plan)},
                dest={"index": plan.target},
                wait_for_completion=True,
                refresh=False,
            )
            .body
        )
    except ApiError as exc:
        # Elasticsearch lists refused documents in a 200 answer; the embedded engine in a 400.
        if not (isinstance(exc.body, dict) and "failures" in exc.body):
            raise
        response = exc.body
    failures = response.get("failures") or []
    if failures:
        first = failures[0]
        cause = first.get("cause", {})
        raise ReindexError(
            f"copying {plan.live} into {plan.target}: {len(failures)} documents refused, "
            f"first {first.get('id')}: {cause.get('type')}: {cause.get('reason')}"
        )
    return int(response.get("created", 0))


def _without_vectors(plan: ReindexPlan) -> dict[str, Any]:
    """A new index without a vector field takes the papers without their vectors (its strict
    mapping would refuse them)."""
    if plan.vectors != VectorMapping.NONE.value:
        return {}
    return {"_source": {"excludes": [VECTOR_FIELD, INFO_FIELD]}}


def verify(
    client: Elasticsearch, plan: ReindexPlan, loaded: int, allow_removals: bool
) -> dict[str, Any]:
    """Prove the new index can replace the live one; raises VerificationError if it cannot.

    - the live index did not change while the new one was built (its writes would be lost);
    - the new index holds every document the load wrote, and the live index's documents unless
      the operator allowed removals: live + added − removed;
    - judged queries that find their papers in the live index find them in the new one;
    - every saved search is accepted by the new index's percolator store;
    - every copy of every shard of the new index is active (green): on a cluster that lost a
      node during the load, its shards must have recovered first.
    """
    if live_fingerprint(client, plan.live) != (plan.live_documents, plan.live_last_indexed):
        raise VerificationError(
            f"{plan.live} changed while {plan.target} was built (an ingest ran?): "
            "re-index again when it is idle"
        )
    healthy(client, plan.target)
    client.indices.refresh(index=plan.target)
    documents = client.count(index=plan.target)["count"]
    if documents != loaded:
        raise VerificationError(
            f"{plan.target} holds {documents} documents, but the load wrote {loaded}"
        )
    removed, sample = missing_ids(client, plan.live, plan.target)
    if removed and not allow_removals:
        raise VerificationError(
            f"{plan.target} lacks {removed} of the {plan.live_documents} documents of {plan.live} "
            f"(e.g. {', '.join(sample)}); allow removals if that is intended"
        )
    checked = check_judged_queries(client, plan.live, plan.target)
    saved_searches = prepare_saved_searches(client, plan.target)
    return {
        "documents": documents,
        "live_documents": plan.live_documents,
        "added": documents - (plan.live_documents - removed),
        "removed": removed,
        "removed_sample": sample,
        "judged_queries_checked": checked,
        "saved_searches": saved_searches,
    }


def missing_ids(client: Elasticsearch, source: str, target: str) -> tuple[int, list[str]]:
    """How many documents of `source` are absent from `target`, with a few of their ids."""
    count, sample = 0, []
    ids = (
        hit["_id"]
        for hit in helpers.scan(
            client, index=source, query={"query": {"match_all": {}}, "_source": False}, size=1000
        )
    )
    while chunk := list(islice(ids, ID_CHUNK)):
        found = client.mget(index=target, ids=chunk, source=False)["docs"]
        absent = [doc["_id"] for doc in found if not doc.get("found")]
        count += len(absent)
        sample += absent[: REMOVED_SAMPLE - len(sample)]
    return count, sample


def check_judged_queries(client: Elasticsearch, live: str, target: str) -> list[str]:
    """Judged queries (a sample of those whose papers the live index holds) must still find a
    paper of theirs in the first K of the new index when they do in the live one."""
    judged = load_judgments()
    wanted = sorted({paper for j in judged for paper in j.relevant})
    docs = client.mget(index=live, ids=wanted, source=False)["docs"]
    held = {doc["_id"] for doc in docs if doc.get("found")}
    applicable = [j for j in judged if set(j.relevant) <= held]
    sample = applicable[:: max(1, len(applicable) // QUERY_SAMPLE)][:QUERY_SAMPLE]
    lost = [
        j.query
        for j in sample
        if set(rank(client, live, j.query)) & set(j.relevant)
        and not set(rank(client, target, j.query)) & set(j.relevant)
    ]
    if lost:
        raise VerificationError(
            f"{target} no longer finds the papers of {len(lost)} judged queries in its first "
            f"{K}: {', '.join(repr(q) for q in lost[:5])}"
        )
    return [j.id for j in sample]


def prepare_saved_searches(client: Elasticsearch, target: str) -> int:
    """The new index's percolator store, built from its own mappings with every saved search:
    one that its mappings refuse would stop alerting once the alias moves, so the re-index
    stops instead. Returns how many saved searches it holds."""
    searches = WatchStore(client).all()
    if not searches:
        return 0
    try:
        return sync(client, ensure_percolator(client, target), searches).stored
    except PercolatorError as exc:
        raise VerificationError(f"saved searches would stop alerting: {exc}") from exc


def healthy(client: Elasticsearch, index: str) -> None:
    """Raise VerificationError unless every copy of the index's shards is active, after
    waiting for them a while (a node that died during the load may be coming back)."""
    health = wait_for_switch(client, index)
    if health.get("status") != SWITCH_HEALTH:
        raise VerificationError(
            f"{index} is {health.get('status')} ({health.get('unassigned_shards')} shard copies "
            f"unassigned, {health.get('initializing_shards')} initializing after "
            f"{SWITCH_HEALTH_TIMEOUT}): a node is missing; re-index again once the cluster "
            "is green"
        )


def switch(client: Elasticsearch, plan: ReindexPlan) -> None:
    """Move the alias to the new index, unless someone else moved it since the plan or the
    index lost a shard copy since it was verified."""
    healthy(client, plan.target)
    current = live_index(client, plan.alias)
    if current != plan.live:
        raise ReindexError(f"the alias '{plan.alias}' moved to {current} during the re-index")
    switch_alias(client, plan.alias, plan.target, plan.live)


# --- Prefect tasks ----------------------------------------------------------------------------
# Each runs in the flow's process with the run's one client (scholarflow/stores/writer.py).


@task(name="create-index", cache_policy=NO_CACHE)
def create_index(client: Elasticsearch, settings: Settings, plan: ReindexPlan) -> str:
    transaction = get_transaction()
    if transaction is not None:  # what the rollback hook needs to find the index again
        # Settings, not the client: the transaction hands out deep copies of what it holds.
        transaction.set("settings", settings)
        transaction.set("index", plan.target)
    return create_target(client, plan)


@create_index.on_rollback
def _delete_half_built(transaction: Transaction) -> None:
    """Rollback hook: the new index goes; the alias was never moved to it."""
    index = transaction.get("index")
    connect(transaction.get("settings")).indices.delete(index=index, ignore_unavailable=True)
    logger.warning("re-index failed: deleted the half-built index %s", index)


@task(name="copy-documents", cache_policy=NO_CACHE)
def copy_task(client: Elasticsearch, plan: ReindexPlan) -> int:
    return copy_documents(client, plan)


@task(name="restore-settings", cache_policy=NO_CACHE)
def finish_task(client: Elasticsearch, plan: ReindexPlan) -> None:
    restore_serving_settings(client, plan.target, plan.layout)


@task(name="verify", cache_policy=NO_CACHE)
def verify_task(
    client: Elasticsearch, plan: ReindexPlan, loaded: int, allow_removals: bool
) -> dict[str, Any]:
    return verify(client, plan, loaded, allow_removals)


@task(name="switch-alias", cache_policy=NO_CACHE)
def switch_task(client: Elasticsearch, plan: ReindexPlan) -> None:
    switch(client, plan)
