"""What a harvest yields besides records (`Deletion`, the one type file readers yield too:
tasks/fetch/deletions.py), and how it fails.

A connector yields `RawRecord`s (with their declared `format`) and `Deletion`s, window by
window. A page it cannot read becomes one `RawRecord` with an `error` (so the run counts and
dead-letters it, naming the source and the page) and ends the window: `Harvest.failure` says
why, and the window's end is not saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scholarflow.errors import ScholarflowError
from scholarflow.paper.models import RawRecord
from tasks.fetch.deletions import Deletion

# What is kept of a page that could not be read, for the dead-letter store.
MAX_KEPT_BYTES = 64 * 1024


class HarvestError(ScholarflowError):
    """A harvest that stopped before its window was complete; the position is unchanged."""

    prefix = "harvest stopped: "


@dataclass(frozen=True)
class Window:
    """A span of the source's changes: after `start` (None: from the beginning) up to and
    including `end`. `since`/`until` are the bounds as the source is asked for them."""

    start: datetime | None
    end: datetime
    day_granularity: bool = False

    def _format(self, moment: datetime) -> str:
        if self.day_granularity:
            return moment.strftime("%Y-%m-%d")
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def since(self) -> str | None:
        """The first moment the window includes (bounds are inclusive at the source)."""
        if self.start is None:
            return None
        step = timedelta(days=1) if self.day_granularity else timedelta(seconds=1)
        return self._format(self.start + step)

    @property
    def until(self) -> str:
        return self._format(self.end)

    def describe(self) -> str:
        return f"{self.since or 'the beginning'}..{self.until}"


@dataclass
class Harvest:
    """One window's stream and what ended it: `failure` is None when the window completed."""

    window: Window
    failure: str | None = None
    pages: int = 0
    deletions: list[Deletion] = field(default_factory=list)

    def failed(self, source: str, location: str, reason: str, detail: str, raw: bytes) -> RawRecord:
        """The page that could not be read, as a record the run dead-letters; the window ends."""
        self.failure = f"{source} {location}: {reason} ({detail})" if detail else reason
        kept = raw[:MAX_KEPT_BYTES]
        return RawRecord(
            source,
            location,
            raw=kept.decode("utf-8", "replace"),
            error=reason,
            detail=detail,
        )
