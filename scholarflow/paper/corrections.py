"""Corrections and retractions: what the registry's answers say happened to a paper after it
was published, read from the cached Crossref works.

Crossref carries Crossmark updates (a retraction, a correction, …, published as a notice with a
DOI of its own) in three fields of a work:

- `update-to`, on the notice: the works it updates. Crossref's REST API format documents it as
  an array of Update objects, `{"updated": partial date, "DOI", "type", "label"}`, `type` being
  the update type (CrossRef/rest-api-doc, api_format.md, "Update").
- `updated-by`, on the updated work, in newer versions of the API: the same objects naming the
  notices, each with a `source` (`publisher`, or `retraction-watch` for the Retraction Watch
  records Crossref has folded in since 2025, which add a `record-id`), as Crossref's tutorial
  "Get Retraction Watch metadata from Crossref's API" shows. The recorded PLOS ONE answer in
  tests/fixtures/doi/ carries one (a correction, `source: publisher`).
- `relation`, typed links between works (`is-preprint-of`, `has-review`, …). Crossref's relation
  vocabulary (relations.xsd, and the list its REST API serves, CrossRef/cayenne
  data/relations.clj) has no retraction or correction type: relations.xsd leaves those to
  Crossmark updates. Nothing is derived from it; a type outside the vocabulary is reported as a
  problem rather than guessed at.

The update types are Crossmark's twelve (Crossref's schema; the REST API's dictionary in
CrossRef/cayenne ids/update_type.clj, which also reads the common misspelling `err`). A notice
that cannot be read (not an object, no type, an unknown type, a DOI or date that is not one)
never stops enrichment: it becomes a line in `problems`, and a paper whose only updates are
unreadable gets the status `unreadable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from scholarflow.paper.doi import normalize_doi
from scholarflow.paper.models import Correction, CorrectionStatus, UpdateNotice

# Crossmark update type → what it makes of the paper; None: an update that corrects nothing.
UPDATE_TYPES: dict[str, CorrectionStatus | None] = {
    "retraction": CorrectionStatus.RETRACTED,
    "partial_retraction": CorrectionStatus.RETRACTED,
    "withdrawal": CorrectionStatus.WITHDRAWN,
    "removal": CorrectionStatus.WITHDRAWN,
    "expression_of_concern": CorrectionStatus.EXPRESSION_OF_CONCERN,
    "correction": CorrectionStatus.CORRECTED,
    "corrigendum": CorrectionStatus.CORRECTED,
    "erratum": CorrectionStatus.CORRECTED,
    "addendum": CorrectionStatus.CORRECTED,
    "clarification": CorrectionStatus.CORRECTED,
    "new_edition": None,
    "new_version": None,
}
_TYPE_ALIASES = {"err": "erratum"}
# Crossref's relation types (inter-work, then intra-work).
RELATION_TYPES = frozenset(
    """is-derived-from has-derivation is-review-of has-review is-comment-on has-comment
    is-reply-to has-reply based-on-data is-data-basis-for has-related-material
    is-related-material is-compiled-by compiles is-documented-by documents is-supplement-to
    is-supplemented-by is-continued-by continues is-part-of has-part references
    is-referenced-by is-based-on is-basis-for requires is-required-by has-translation
    is-translation-of has-preprint is-preprint-of has-manuscript is-manuscript-of
    has-expression is-expression-of has-manifestation is-manifestation-of replaces
    is-replaced-by is-same-as is-identical-to is-original-form-of is-variant-form-of
    is-varient-form-of has-version is-version-of has-format is-format-of""".split()
)
# Most serious first: the status and the notice a paper shows.
SEVERITY = list(CorrectionStatus)
UPDATE_FIELDS = ("update-to", "updated-by", "relation")
_TYPE_SEPARATORS = re.compile(r"[\s-]+")
# Problems kept per paper: a malformed answer says what is wrong without flooding the document.
MAX_PROBLEMS = 10


def updated_dois(work: dict[str, Any] | None) -> list[str]:
    """The DOIs a notice updates (its `update-to`), normalised: what the DOI cache indexes so that
    a paper's notices can be found."""
    entries = (work or {}).get("update-to")
    if not isinstance(entries, list):
        return []
    found = (normalize_doi(str(e.get("DOI"))) for e in entries if isinstance(e, dict))
    return sorted({doi for doi in found if doi})


def read_correction(
    doi: str | None, work: dict[str, Any], notices: Iterable[dict[str, Any]] = ()
) -> Correction | None:
    """The correction state of the paper `doi` from its own work (`updated-by`, `relation`) and
    the cached works of notices that name it in their `update-to`; None when they say nothing."""
    problems: list[str] = []
    read: list[UpdateNotice] = []
    for index, entry in _entries(work, "updated-by", problems):
        notice = _notice(entry, f"updated-by[{index}]", "updated-by", problems)
        if notice is not None:
            read.append(notice)
    for notice_work in notices:
        for index, entry in _entries(notice_work, "update-to", problems):
            if doi is None or normalize_doi(str(entry.get("DOI"))) != doi:
                continue  # the notice updates other works too
            where = f"update-to[{index}] of {notice_work.get('DOI') or 'a notice'}"
            notice = _notice({**entry, "DOI": notice_work.get("DOI")}, where, "update-to", problems)
            if notice is not None:
                read.append(notice)
    relation_problems = _relation_problems(work.get("relation"))
    # New editions and versions are updates that correct nothing.
    unique = list({(n.type, n.doi): n for n in read if UPDATE_TYPES[n.type]}.values())
    if not unique and not problems and not relation_problems:
        return None
    return _correction(unique, problems, relation_problems)


def _correction(
    notices: list[UpdateNotice], problems: list[str], relation_problems: list[str]
) -> Correction:
    """The most serious status, its latest notice giving the DOI and date shown; `unreadable`
    when the paper's updates were all unreadable (relations correct nothing either way)."""
    kept = [*problems, *relation_problems][:MAX_PROBLEMS]
    if not notices:
        status = CorrectionStatus.UNREADABLE if problems else None
        return Correction(status=status, problems=kept)
    worst = min(SEVERITY.index(_status(n)) for n in notices)
    shown = max((n for n in notices if _status(n) is SEVERITY[worst]), key=lambda n: n.date or "")
    return Correction(
        status=SEVERITY[worst],
        notice_doi=shown.doi,
        notice_date=shown.date,
        notices=notices,
        problems=kept,
    )


def _status(notice: UpdateNotice) -> CorrectionStatus:
    status = UPDATE_TYPES[notice.type]
    assert status is not None, "only notices that correct something are kept"
    return status


def _entries(
    work: dict[str, Any], name: str, problems: list[str]
) -> Iterable[tuple[int, dict[str, Any]]]:
    """The objects of an update list; what is not one is reported."""
    entries = work.get(name)
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems.append(f"{name} is not a list but {type(entries).__name__}")
        return []
    found = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            found.append((index, entry))
        else:
            problems.append(f"{name}[{index}] is not an object but {type(entry).__name__}")
    return found


def _notice(
    entry: dict[str, Any],
    where: str,
    via: Literal["updated-by", "update-to"],
    problems: list[str],
) -> UpdateNotice | None:
    kind = update_type(entry.get("type"))
    if kind is None:
        problems.append(f"{where} has no update type")
        return None
    if kind not in UPDATE_TYPES:
        problems.append(f"{where}: unknown update type {entry.get('type')!r}")
        return None
    doi = normalize_doi(str(entry["DOI"])) if entry.get("DOI") else None
    if doi is None:
        problems.append(f"{where}: no DOI for the {kind} notice")
    date = partial_date(entry.get("updated"))
    if entry.get("updated") is not None and date is None:
        problems.append(f"{where}: unreadable date {entry.get('updated')!r}"[:200])
    source = entry.get("source")
    return UpdateNotice(
        type=kind,
        doi=doi,
        date=date,
        source=source if isinstance(source, str) else None,
        via=via,
    )


def update_type(value: Any) -> str | None:
    """`Expression of concern`, `expression-of-concern`, `err` → Crossref's spelling."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = _TYPE_SEPARATORS.sub("_", value.strip().lower())
    return _TYPE_ALIASES.get(name, name)


def partial_date(value: Any) -> str | None:
    """A Crossref partial date (`{"date-parts": [[2010, 2, 6]]}`) as `2010-02-06`, `2010-02` or
    `2010`; None when it is not one."""
    parts = value.get("date-parts") if isinstance(value, dict) else None
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]):
        return None
    numbers = parts[0][:3]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        return None
    year, *rest = numbers
    limits = (12, 31)[: len(rest)]
    if not 1000 <= year <= 9999 or any(
        not 1 <= n <= top for n, top in zip(rest, limits, strict=True)
    ):
        return None
    return "-".join([f"{year:04d}", *(f"{n:02d}" for n in rest)])


def _relation_problems(relation: Any) -> list[str]:
    """Relation types are read for nothing but reported when Crossref's vocabulary lacks them."""
    if relation is None:
        return []
    if not isinstance(relation, dict):
        return [f"relation is not an object but {type(relation).__name__}"]
    unknown = sorted(set(relation) - RELATION_TYPES)
    return [f"relation: unknown relation type {name!r}"[:200] for name in unknown]
