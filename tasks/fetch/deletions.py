"""Deletions a source announces, the one type every reader and harvester yields for them:
PubMed update files list the PMIDs they withdraw in `<DeleteCitation>`, OAI-PMH repositories
mark a record's header `deleted`. Reading one is not applying it: tasks/harvest/deletions.py
applies them to the index, counted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deletion:
    """The ids that `source` says no longer exist, read at `location` (a line, a page): PMIDs
    for PubMed, OAI identifiers for a repository (the `provenance.location` of the papers it
    gave us)."""

    source: str
    location: str
    ids: list[str]
