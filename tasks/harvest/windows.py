"""Which windows a harvest asks for: only what changed since the last complete window.

Bounds are inclusive at the source, so a window starts one unit (a day or a second, the
granularity the source declares) after the end of the last one. By default a window ends at
the latest moment that is complete: yesterday for sources that count in days (a day still
running may gain records after we asked), a second ago for the others. `--until` sets the end;
`window_days` cuts a long span into windows of that many days, each saved when it completes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.items import HarvestError, Window


def parse_moment(text: str) -> datetime:
    """`2026-01-05`, `2026-01-05T10:00:00Z` or any ISO 8601 moment, as a UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HarvestError(f"{text!r} is not a date or a date and time (ISO 8601)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def default_end(day_granularity: bool, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    if day_granularity:
        return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=1)
    return now.replace(microsecond=0) - timedelta(seconds=1)


def plan_windows(
    position: str | None,
    *,
    full: bool,
    until: datetime | None,
    day_granularity: bool,
    window_days: int = 0,
    earliest: datetime | None = None,
) -> list[Window]:
    """The windows to harvest, in order; [] when the source is harvested up to `until`."""
    end = until or default_end(day_granularity)
    if day_granularity:
        end = datetime(end.year, end.month, end.day, tzinfo=UTC)
    start = None if full or position is None else parse_moment(position)
    if start is not None and start >= end:
        return []
    first = start or (earliest - timedelta(seconds=1) if earliest and window_days else None)
    if not window_days or first is None:
        return [Window(start, end, day_granularity)]
    windows: list[Window] = []
    step = timedelta(days=window_days)
    at: datetime | None = start
    cut = first
    while cut < end:
        cut = min(cut + step, end)
        windows.append(Window(at, cut, day_granularity))
        at = cut
    return windows


def source_windows(
    source: HarvestSource,
    full: bool,
    until: datetime | None,
    day_granularity: bool,
    earliest: datetime | None = None,
) -> list[Window]:
    """The windows of a configured source: after its position, cut by its `window_days`."""
    return plan_windows(
        source.harvested_until,
        full=full,
        until=until,
        day_granularity=day_granularity,
        window_days=source.window_days,
        earliest=earliest,
    )
