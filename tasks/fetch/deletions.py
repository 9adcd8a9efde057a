"""Deletions a source announces: PubMed update files list the PMIDs they withdraw in
`<DeleteCitation>`. Reading one is not applying it: an ingest counts and reports them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deletion:
    """The ids (`ids`, PMIDs for PubMed) that `source` says no longer exist, read at
    `location` (a line)."""

    source: str
    location: str
    ids: list[str]
