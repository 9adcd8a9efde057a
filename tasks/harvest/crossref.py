"""Crossref REST works by filter: `/works?filter=…&cursor=*`, following `next-cursor` until a
page has no items (tasks/harvest/cursor.py pages it).

A window is `from-update-date`/`until-update-date` (days), added to the source's own filters
(`prefix:10.5281`, `member:…`, `issn:…`, `type:journal-article`). Requests carry the polite
`mailto` and go through the rate limiter and circuit breaker the DOI lookups use. Crossref keeps
one cursor for a whole scroll, so a repeated cursor is normal; a page past the total the first
page announced is not, and ends the window with an error. An invalid or expired cursor (404)
ends it too, unsaved: the next run asks for the window again.
"""

from __future__ import annotations

from typing import Any

from tasks.harvest.cursor import CursorApi, CursorPaging, Page, body_start, parse_json


def _page(data: Any) -> Page | None:
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or "items" not in message:
        return None
    total = message.get("total-results")
    return Page(message.get("items") or [], message.get("next-cursor"), total)


def _error(body: bytes) -> str:
    """Crossref's own words (`Cursor specified but it is invalid`), or the start of the body."""
    data = parse_json(body)
    try:
        return str(data["message"][0]["message"])
    except (KeyError, IndexError, TypeError):
        return body_start(body)


# Crossref keeps one cursor for a whole scroll: a repeated cursor is normal.
BOUNDS = ("from-update-date", "until-update-date")
CROSSREF = CursorApi("Crossref", "DOI", BOUNDS, ("rows", 1000), _page, _error, cursor_repeats=True)


class CrossrefWorks(CursorPaging):
    api = CROSSREF
