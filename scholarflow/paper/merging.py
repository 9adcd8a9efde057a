"""How two descriptions of the same paper become one (the merge rules in the README).

Duplicates (records with the same normalised DOI): the record read first is the base; it keeps
every value it has, and the other record only fills the gaps. Lists that describe provenance or
coverage (languages, flags, subjects, provenance, conflicts) are united. A DOI that any of the
records carries is the document's `source` DOI, even where another record's search matched it;
a DOI only a search found comes with that search's evidence (`doi_match`).
"""

from __future__ import annotations

from typing import Any

from scholarflow.paper.models import EnrichmentStatus, Paper

_UNITED = ("languages", "flags", "subjects", "provenance", "conflicts")
# Better enrichment wins when duplicates disagree.
_STATUS_RANK = {status: rank for rank, status in enumerate(EnrichmentStatus)}
_STATUS_RANK[EnrichmentStatus.ENRICHED] = len(EnrichmentStatus)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def fill_gaps(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """`base` with its empty values taken from `other`, recursively for nested objects."""
    merged = dict(base)
    for key, value in other.items():
        mine = merged.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            merged[key] = fill_gaps(mine, value)
        elif is_empty(mine) and not is_empty(value):
            merged[key] = value
    return merged


def _united(first: list[Any], second: list[Any]) -> list[Any]:
    return first + [item for item in second if item not in first]


def merge_duplicates(base: Paper, other: Paper) -> Paper:
    """One paper out of two records of it; `base` (read first) wins every conflict."""
    mine, theirs = base.model_dump(), other.model_dump()
    merged = fill_gaps(
        {k: v for k, v in mine.items() if k not in _UNITED and k != "enrichment"},
        {k: v for k, v in theirs.items() if k not in _UNITED and k != "enrichment"},
    )
    for name in _UNITED:
        merged[name] = _united(mine[name], theirs[name])
    better = max((base.enrichment, other.enrichment), key=lambda e: _STATUS_RANK[e.status])
    merged["enrichment"] = better.model_dump()
    if "source" in (base.doi_source, other.doi_source):
        merged["doi_source"] = "source"  # a record carries the DOI: it was not only matched
    elif base.doi is None and other.doi is not None:
        merged["doi_match"] = theirs["doi_match"]  # the evidence goes with the DOI it found
    return Paper.model_validate(merged)
