"""Crossref answers carrying Crossmark updates, for the tests.

Built from Crossref's documented schema on top of the real recorded works in tests/fixtures/doi/:
a recorded `/works/{doi}` answer with an `updated-by` or `update-to` list added, each entry an
Update object as the REST API format documents it (`DOI`, `type`, `label`, `updated` as a
partial date) with the `source` (and, for Retraction Watch, `record-id`) that Crossref's
Retraction Watch tutorial shows. The recorded PLOS ONE answer carries a real `updated-by` (a
correction); no recorded answer carries a retraction, so those are built.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fixture_server import CROSSREF_WORKS, FIXTURES

LABELS = {"retraction": "Retraction", "correction": "Correction", "withdrawal": "Withdrawal"}


def recorded(doi: str) -> dict[str, Any]:
    """The recorded Crossref answer for `doi` (one of `CROSSREF_WORKS`)."""
    return json.loads((FIXTURES / "doi" / CROSSREF_WORKS[doi]).read_text())


def update(
    doi: str,
    kind: str,
    date: tuple[int, ...],
    source: str = "publisher",
    record_id: str | None = None,
) -> dict[str, Any]:
    """One Update object: the notice `doi` of type `kind` published on `date`."""
    entry: dict[str, Any] = {
        "DOI": doi,
        "type": kind,
        "label": LABELS.get(kind, kind.replace("_", " ").capitalize()),
        "source": source,
        "updated": {"date-parts": [list(date)]},
    }
    if record_id is not None:
        entry["record-id"] = record_id
    return entry


def with_fields(doi: str, **fields: Any) -> dict[str, Any]:
    """The recorded answer for `doi` with `fields` set in its work (`updated_by` →
    `updated-by`)."""
    body = recorded(doi)
    body["message"].update({name.replace("_", "-"): value for name, value in fields.items()})
    return body


def notice(notice_doi: str, updates: list[dict[str, Any]], like: str) -> dict[str, Any]:
    """A notice's answer: the recorded work `like` made into the notice `notice_doi`, whose
    `update-to` lists the works it updates."""
    body = recorded(like)
    body["message"].update(
        {"DOI": notice_doi, "title": ["Retraction notice"], "update-to": updates}
    )
    return body
