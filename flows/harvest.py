"""The harvest flow: ask a configured source for what changed since its last complete window,
run the records through the ingest's own decode → enrich → index path, and apply the
deletions it announced.

Window by window (tasks/harvest/windows.py): the window's records stream into `load_records`
(flows/ingest.py: batches, dead letters, the writer run), its deletions are applied once its
records are written (tasks/harvest/deletions.py), and only then is its end saved as the
source's position. A window that breaks (a page that cannot be read, a source that stops
answering) dead-letters that page, keeps what it had written (a re-run finds it unchanged) and
leaves the position where it was; the run fails with one line naming the source and the page.

Every record that enters a harvest is accounted for: `records_read` = indexed + merged +
unchanged + rejected + deleted, where `deleted` counts the deletions the source announced
(removed from the index, held by another source, or absent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.ingest import load_records, run_ingest
from flows.running.credentials import flow_settings
from flows.running.observe import log_event
from scholarflow.engine.client import connect
from scholarflow.paper.models import RawRecord, RunSummary
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.harvest_sources import HarvestSource, HarvestSources
from scholarflow.stores.indices import ReindexError, ensure_live_index
from scholarflow.stores.writer import WriterRun
from tasks.harvest import Connector, Deletion, Harvest, HarvestError, Window, connector_for
from tasks.harvest.deletions import apply_deletions
from tasks.harvest.http import HarvestHttp
from tasks.harvest.windows import parse_moment
from tasks.percolate import percolate_run


class HarvestFailed(HarvestError):
    """A harvest that stopped before its last window completed; carries the run's summary."""

    prefix = ""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class HarvestSummary:
    """A harvest's record accounting (the ingest's, plus the deletions) and where it stands."""

    source: str
    run: RunSummary  # its deletions too: read, and removed, held or absent
    windows: int = 0
    windows_done: int = 0
    pages: int = 0
    harvested_from: str | None = None
    harvested_until: str | None = None
    asked_until: str | None = None  # the end of the last window asked for
    error: str | None = None

    def check(self) -> None:
        self.run.check()

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        return "harvested" if self.windows else "up to date"

    def as_dict(self) -> dict[str, Any]:
        data = self.run.as_dict()
        return {
            "source": self.source,
            "status": self.status,
            **data,
            "records_read": self.run.records_read + self.run.deletions_read,
            "merged": data["duplicates_merged"],
            "deleted": self.run.deletions_read,
            "harvested_from": self.harvested_from,
            "harvested_until": self.harvested_until,
            "asked_until": self.asked_until,
            "windows": self.windows,
            "windows_done": self.windows_done,
            "pages": self.pages,
            "error": self.error,
        }


@flow(name="harvest", log_prints=False)
def harvest(source: str, full: bool = False, until: str | None = None) -> dict[str, Any]:
    """Harvest the configured `source`: what changed since its last complete window, up to
    `until` (ISO date or date-time; by default the latest complete moment); `full` from the
    beginning."""
    settings = flow_settings()
    summary = run_harvest(settings, source, full=full, until=until)
    data = summary.as_dict()
    if flow_run.get_id():
        _publish(data)
    if summary.error:
        raise HarvestFailed(summary.error, data)
    return data


def run_harvest(
    settings: Settings,
    name: str,
    *,
    full: bool = False,
    until: str | None = None,
    batch_size: int | None = None,
) -> HarvestSummary:
    """One harvest of the source `name`; plain calls outside a flow run."""
    sources = HarvestSources(connect(settings))
    source = sources.get(name)
    end = parse_moment(until) if until else None
    run_id = str(flow_run.get_id() or uuid.uuid4())
    if source.kind in ("files", "pubmed"):
        return _files(settings, source, full, batch_size, run_id)
    http = HarvestHttp(settings)
    log = partial(log_event, _logger())
    try:
        with WriterRun(settings, flow="harvest", run_id=run_id, log=log) as run:
            size = batch_size or settings.batch_size
            result = _harvest(settings, run, http, source, full, end, size)
    finally:
        http.close()
    HarvestSources(connect(settings)).note_run(
        name, run_id, result.status, result.error, alias=settings.alias
    )
    log_event(_logger(), "harvest finished", source=name, **_counts(result))
    return result


def _harvest(
    settings: Settings,
    run: WriterRun,
    http: HarvestHttp,
    source: HarvestSource,
    full: bool,
    end: Any,
    batch_size: int,
) -> HarvestSummary:
    client = run.client
    connector = connector_for(source, http, settings)
    windows = connector.windows(full, end)
    index = ensure_live_index(
        client, settings.alias, settings.analysis_profile, settings.vector_mapping
    )
    summary = RunSummary(run_id=run.run_id, alias=settings.alias, index=index)
    result = HarvestSummary(source.name, summary, windows=len(windows))
    result.harvested_from = windows[0].since if windows else None
    result.asked_until = windows[-1].until if windows else None
    result.harvested_until = source.harvested_until
    dead_letters = DeadLetterStore(client)
    dead_letters.ensure()  # before the load: see DeadLetterStore.ensure
    store = HarvestSources(client)
    for window in windows:
        harvest = harvest_window(
            settings, run, connector, source, window, index, summary, batch_size, dead_letters
        )
        result.pages += harvest.pages
        if harvest.failure:
            result.error = f"source {source.name}: {harvest.failure}"
            break
        store.save_position(source.name, window.until, run.run_id)
        result.harvested_until = window.until
        result.windows_done += 1
    run.finish(summary, index, dead_letters)
    result.check()
    summary.watches = percolate_run(
        client, index, run.run_id, settings.watch_max_events, between_pages=run.renew
    ).as_dict()
    return result


def harvest_window(
    settings: Settings,
    run: WriterRun,
    connector: Connector,
    source: HarvestSource,
    window: Window,
    index: str,
    summary: RunSummary,
    batch_size: int,
    dead_letters: DeadLetterStore,
) -> Harvest:
    """One window's records loaded into `index`, then its deletions applied; the returned
    `Harvest` says whether the window completed (its `failure` is None)."""
    harvest = Harvest(window)
    deleted: list[str] = []

    def records() -> Iterator[RawRecord]:
        for item in connector.records(harvest):
            if isinstance(item, Deletion):
                deleted.extend(item.ids)
            else:
                yield item

    load_records(settings, records(), index, summary, batch_size, dead_letters, run=run)
    summary.deletions_read += len(deleted)
    summary.deletions.update(
        apply_deletions(run.client, run.write, index, source.origin, deleted).as_dict()
    )
    return harvest


def harvest_again(
    settings: Settings,
    run: WriterRun,
    sources: list[HarvestSource],
    index: str,
    summary: RunSummary,
    batch_size: int,
    dead_letters: DeadLetterStore,
) -> None:
    """A replay re-index's harvests: each source in full, up to its saved position, into the
    index being built. Positions stay: the next harvest goes on into whichever index the alias
    then names. A window that breaks raises ReindexError naming the source and the page, so
    the re-index stops before the alias moves."""
    http = HarvestHttp(settings)
    try:
        for source in sources:
            connector = connector_for(source, http, settings)
            until = parse_moment(source.harvested_until) if source.harvested_until else None
            for window in connector.windows(True, until):
                harvest = harvest_window(
                    settings,
                    run,
                    connector,
                    source,
                    window,
                    index,
                    summary,
                    batch_size,
                    dead_letters,
                )
                if harvest.failure:
                    raise ReindexError(
                        f"harvest source {source.name} could not be harvested again: "
                        f"{harvest.failure}"
                    )
    finally:
        http.close()


def _files(
    settings: Settings, source: HarvestSource, full: bool, batch_size: int | None, run_id: str
) -> HarvestSummary:
    """A `files` source is a folder, glob or URL: the ingest reads what changed in it (its
    source manifest skips the files already ingested). A `pubmed` source is one of PubMed's
    baseline or update files: read as PubMed XML, the PMIDs they withdraw applied."""
    format = "medline" if source.kind == "pubmed" else None
    size = batch_size or settings.batch_size
    summary = run_ingest(settings, [source.url], size, full=full, format=format)
    result = HarvestSummary(source.name, summary, windows=summary.sources_read)
    result.windows_done = summary.sources_read
    HarvestSources(connect(settings)).note_run(
        source.name, summary.run_id, result.status, alias=settings.alias
    )
    return result


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    return get_run_logger() if flow_run.get_id() else logging.getLogger(__name__)


def _counts(result: HarvestSummary) -> dict[str, Any]:
    data = result.as_dict()
    keys = ("records_read", "indexed", "merged", "unchanged", "rejected", "deleted", "status")
    return {key: data[key] for key in keys}


def _publish(data: dict[str, Any]) -> None:
    """The summary as a table artifact on the flow run (the Prefect UI)."""
    keys = (
        "records_read",
        "indexed",
        "merged",
        "unchanged",
        "rejected",
        "deleted",
        "harvested_from",
        "harvested_until",
        "windows",
        "windows_done",
        "pages",
        "status",
    )
    rows = [{"measure": key, "value": str(data[key])} for key in keys]
    rows += [{"measure": f"deletions {k}", "value": str(v)} for k, v in data["deletions"].items()]
    if data["error"]:
        rows.append({"measure": "error", "value": data["error"]})
    create_table_artifact(
        key="harvest-summary", table=rows, description=f"Harvest of {data['source']}"
    )
