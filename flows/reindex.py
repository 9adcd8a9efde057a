"""The re-index flow: a new index from the current templates, loaded, verified, switched in.

Searches keep going to the alias, which points at the old index until one atomic `_aliases`
call moves it; every step before that runs inside a transaction whose rollback deletes the
half-built index. Modes:

- `copy`: server-side `_reindex` from the live index, for mapping and analysis changes;
- `replay`: decode and enrich (from the DOI cache only, never the network) every recorded
  source again, for changes in decoding or in what a document holds; every harvest source
  that wrote to the alias is harvested again in full (flows/harvest.py), so a paper that came
  only from a harvest is not lost.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.transactions import transaction
from pydantic import BaseModel, ConfigDict, Field

from flows.harvest import harvest_again
from flows.ingest import apply_file_deletions, load_records
from flows.running.credentials import flow_settings
from flows.running.observe import log_event
from scholarflow.engine.client import check, connect
from scholarflow.paper.models import Outcome, RunSummary
from scholarflow.settings import DoiLookup, Settings
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.harvest_sources import HarvestSources
from scholarflow.stores.indices import prune
from scholarflow.stores.writer import WriterRun
from tasks.fetch import read_records
from tasks.harvest import Deletion
from tasks.reindex import (
    ReindexPlan,
    copy_task,
    create_index,
    finish_task,
    plan_reindex,
    switch_task,
    verify_task,
)


class ReindexParameters(BaseModel):
    """The re-index form in the Prefect UI (and the `scholarflow reindex` options)."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["copy", "replay"] = Field(
        "copy",
        description="copy: server-side copy of the live index (mapping or analysis changes); "
        "replay: decode and enrich the recorded sources again (decoding changes).",
    )
    dry_run: bool = Field(False, description="Only report what a re-index would do.")
    keep: int = Field(2, ge=0, le=20, description="Previous indices kept for rollback.")
    allow_removals: bool = Field(
        False,
        description="Let the new index lack documents the live one has "
        "(records the decoder now rejects).",
    )
    batch_size: int | None = Field(None, ge=1, le=10_000, description="Records per batch.")


DEFAULTS = ReindexParameters()


@flow(name="reindex", log_prints=False)
def reindex(parameters: ReindexParameters = DEFAULTS) -> dict[str, Any]:
    """Build the next paper index, verify it, and switch the alias to it."""
    settings = flow_settings()
    result = run_reindex(settings, parameters)
    if not result.get("dry_run"):
        publish_result(result)
    return result


def run_reindex(settings: Settings, parameters: ReindexParameters) -> dict[str, Any]:
    """A dry run only plans; a re-index plans, builds and switches under the writer lock, so no
    ingest writes to the live index from the plan until the alias has moved."""
    if parameters.dry_run:
        client = connect(settings)
        check(client, settings.es_url or "embedded engine")
        plan = plan_reindex(client, settings, parameters.mode, parameters.keep)
        return {"dry_run": True, **plan.as_dict()}
    run_id = str(flow_run.get_id() or uuid.uuid4())
    log = partial(log_event, get_run_logger())
    with WriterRun(settings, flow="reindex", run_id=run_id, log=log) as run:
        return _reindex(settings, run, parameters)


def _reindex(settings: Settings, run: WriterRun, parameters: ReindexParameters) -> dict[str, Any]:
    logger = get_run_logger()
    client = run.client
    started = time.perf_counter()
    plan = plan_reindex(client, settings, parameters.mode, parameters.keep)
    logger.info(
        "re-indexing %s into %s (%s, %s analysis)", plan.live, plan.target, plan.mode, plan.profile
    )
    try:
        with transaction():
            create_index(client, settings, plan)
            load = _load(settings, plan, parameters.batch_size or settings.batch_size, run)
            finish_task(client, plan)
            run.renew()
            verification = verify_task(client, plan, load["documents"], parameters.allow_removals)
            run.renew()  # the last check before the alias moves: raises if the lock was lost
            switch_task(client, plan)
        logger.info("alias %s now points at %s", plan.alias, plan.target)
        pruned = prune(client, plan.alias, parameters.keep)
    finally:
        run.persist()
    return {
        "dry_run": False,
        "alias": plan.alias,
        "mode": plan.mode,
        "previous": plan.live,
        "index": plan.target,
        "analysis_profile": plan.profile,
        "load": load,
        "verification": verification,
        **pruned,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _load(settings: Settings, plan: ReindexPlan, batch_size: int, run: WriterRun) -> dict[str, Any]:
    """Fill the new index; returns how many documents it must hold, with the replay's counts.
    A replay writes each batch through the run, which renews the lock first: one that lost it
    stops loading at once."""
    if plan.mode == "copy":
        return {"documents": copy_task(run.client, plan)}
    run_id = str(flow_run.get_id() or uuid.uuid4())
    summary = RunSummary(run_id=run_id, alias=plan.alias, index=plan.target)
    lookup = DoiLookup.OFF if settings.doi_lookup is DoiLookup.OFF else DoiLookup.CACHE_ONLY
    replay_settings = settings.model_copy(update={"doi_lookup": lookup})
    dead_letters = DeadLetterStore(run.client)
    dead_letters.ensure()  # before the load: see DeadLetterStore.ensure
    deletions: list[Deletion] = []
    load_records(
        replay_settings,
        read_records(plan.files, deletions=deletions),
        plan.target,
        summary,
        batch_size,
        dead_letters,
        run=run,
    )
    apply_file_deletions(run, plan.target, summary, deletions, get_run_logger())
    harvests = [HarvestSources(run.client).get(name) for name in plan.harvests]
    harvest_again(replay_settings, run, harvests, plan.target, summary, batch_size, dead_letters)
    # The target is refreshed when its serving settings are restored; the engine is saved
    # when the re-index ends, whichever way.
    run.finish(summary, None, dead_letters, persist=False)
    # Into an empty index, every document is written once as `indexed`; the rest merge into it.
    # A deletion a harvest announced may remove one of them again.
    documents = summary.outcomes[Outcome.INDEXED] - summary.deletions["removed"]
    return {"documents": documents, "replay": summary.as_dict()}


def publish_result(result: dict[str, Any]) -> None:
    """The outcome as a table artifact on the flow run in the Prefect UI."""
    verification = result["verification"]
    rows = [
        {"item": "alias", "value": f"{result['alias']}: {result['previous']} → {result['index']}"},
        {"item": "mode", "value": result["mode"]},
        {"item": "documents", "value": verification["documents"]},
        {"item": "added", "value": verification["added"]},
        {"item": "removed", "value": verification["removed"]},
        {"item": "judged queries checked", "value": len(verification["judged_queries_checked"])},
        {"item": "saved searches rebuilt", "value": verification["saved_searches"]},
        {"item": "kept for rollback", "value": ", ".join(result["kept"]) or "none"},
        {"item": "deleted", "value": ", ".join(result["deleted"]) or "none"},
    ]
    create_table_artifact(key="reindex-result", table=rows, description="Re-index")
