"""What an operator sees of a running flow: a live progress artifact and structured log lines."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

import orjson
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run

from scholarflow.paper.models import RawRecord, RunSummary
from scholarflow.redact import redact_text
from tasks.fetch import expand_sources

_LINE = re.compile(r"line (\d+)")
# Progress updates are API calls: at most one a second, however small the batches.
MIN_UPDATE_SECONDS = 1.0


def log_event(logger: Any, event: str, *, level: str = "INFO", **fields: Any) -> None:
    """Log `event key=value …`: readable in the Prefect UI, parseable by a log shipper; the
    event and its fields also travel as `extra` (`record.event`, `record.fields`) for JSON
    formatters. Values are redacted (`scholarflow.redact`): a field may name an address."""
    fields = {k: redact_text(v) if isinstance(v, str) else v for k, v in fields.items()}
    text = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
    extra = {"event": event, "fields": fields}
    logger.log(logging.getLevelName(level), f"{event} {text}".strip(), extra=extra)


# Taken and released once a batch (re-enrichment, embedding): routine, so quieter than waiting
# for the lock or losing it.
ROUTINE_LOCK_EVENTS = frozenset({"lock taken", "lock released"})


def batch_lock_event(logger: Any, event: str, *, level: str = "INFO", **fields: Any) -> None:
    """The writer lock's events of a run that takes the lock for each batch's write."""
    routine = event in ROUTINE_LOCK_EVENTS
    log_event(logger, event, level="DEBUG" if routine else level, **fields)


def _value(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if not text or re.search(r'[\s="]', text) else text


class SourceProgress:
    """How far a run is through its sources, weighted by the size of each.

    Within a plain local file the line number of the last indexed record says how far the run
    got (the file's lines are counted once, when the run reaches it); a compressed file, a JSON
    document or a URL counts as done when the run moves past it.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        # The run's own files, already chosen (a forced format takes any name).
        self.sources = list(expand_sources(paths, any_suffix=True))
        self.sizes = _weights(self.sources)
        self.position = {source: i for i, source in enumerate(self.sources)}
        self._lines: dict[str, int | None] = {}

    def __len__(self) -> int:
        return len(self.sources)

    def percent(self, last: RawRecord) -> float | None:
        """Percent done once `last` (a record, in read order) is indexed; None if unknown."""
        index = self.position.get(last.source)
        total = sum(self.sizes)
        if index is None or not total:
            return None
        done = sum(self.sizes[:index]) + self.sizes[index] * self._within(last)
        return min(100.0, 100.0 * done / total)

    def _within(self, record: RawRecord) -> float:
        match = _LINE.fullmatch(record.location)
        if match is None:
            return 0.0
        if record.source not in self._lines:
            self._lines[record.source] = _count_lines(record.source)
        lines = self._lines[record.source]
        return min(1.0, int(match.group(1)) / lines) if lines else 0.0


class RunProgress:
    """The run's progress as a Prefect progress artifact on the flow run, with the record
    counts in its description; updated after indexed batches, at most once a second. Outside a
    flow run there is no artifact to update: progress is only tracked."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.sources = SourceProgress(paths)
        self.percent = 0.0
        self._published = 0.0
        self.artifact_id = None
        if flow_run.get_id():
            self.artifact_id = create_progress_artifact(
                progress=0.0, key="ingest-progress", description=_describe(None, len(self.sources))
            )

    def __len__(self) -> int:
        return len(self.sources)

    def update(self, summary: RunSummary, last: RawRecord) -> None:
        """After a batch is indexed: `last` is its final record."""
        self.percent = max(self.percent, self.sources.percent(last) or 0.0)
        now = time.monotonic()
        if now - self._published >= MIN_UPDATE_SECONDS:
            self._publish(summary)
            self._published = now

    def finish(self, summary: RunSummary) -> None:
        self.percent = 100.0
        self._publish(summary)

    def _publish(self, summary: RunSummary) -> None:
        if self.artifact_id is None:
            return
        update_progress_artifact(
            self.artifact_id, round(self.percent, 1), _describe(summary, len(self.sources))
        )


def _describe(summary: RunSummary | None, sources: int) -> str:
    if summary is None:
        return f"Ingest of {sources} source(s): starting"
    return (
        f"Ingest of {sources} source(s): {summary.records_read:,} records read, "
        f"{summary.accounted():,} accounted for"
    )


def _weights(sources: list[str]) -> list[int]:
    """Each source's weight in the progress: its size in bytes; a URL, whose size is unknown
    before it is read, weighs as much as the average file."""
    sizes: list[int | None] = []
    for source in sources:
        try:
            sizes.append(max(1, os.path.getsize(source)))
        except OSError:
            sizes.append(None)
    known = [size for size in sizes if size is not None]
    average = sum(known) // len(known) if known else 1
    return [average if size is None else size for size in sizes]


def _count_lines(source: str) -> int | None:
    if source.startswith(("http://", "https://")) or source.lower().endswith(".gz"):
        return None
    try:
        with open(source, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
