"""Which Crossref work, if any, is the record that came without a DOI: the acceptance rule.

Crossref's `query.bibliographic` returns the works most like the text it is given, ranked by a
relevance `score`, whether or not any of them is the paper. A candidate is accepted only when
every test holds:

- Crossref's `score` is at least `MIN_SCORE` (below it, the query matched only loosely);
- its title, normalised (markup removed, Unicode folded, case and punctuation dropped), is at
  least `MIN_TITLE_SIMILARITY` like the record's (rapidfuzz's normalised Indel similarity), its
  subtitle appended or not, and has the same words of `CONTENT_WORD` letters or more: one word
  changed in a long title (`mutants` for `variants`) still scores 0.96, and names another paper;
- the record's year is one of the work's years (issued, published, print, online);
- the record's first author and the work's first author are the same person
  (scholarflow/paper/names.py: across scripts and name orders).

Exactly one DOI must pass: two passing works are ambiguous and none is taken. The evidence (the
candidate's DOI, score, title similarity, year and first author, and why it was refused) is
kept on the paper either way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from scholarflow.paper.doi import normalize_doi
from scholarflow.paper.models import DoiMatch
from scholarflow.paper.names import same_person
from scholarflow.paper.text import clean_text

MIN_SCORE = 30.0
MIN_TITLE_SIMILARITY = 0.95
# Words this long must be the same in both titles (shorter ones: articles, prepositions).
CONTENT_WORD = 4
# Candidates asked for: the true work, when Crossref has it, is almost always among the first.
ROWS = 5
# A title shorter than this (in words) names too many papers to be matched by its words.
MIN_TITLE_WORDS = 3
_DATE_FIELDS = ("issued", "published", "published-print", "published-online")


@dataclass(frozen=True)
class Query:
    """What a record without a DOI is searched by."""

    title: str
    author: str
    year: int

    def text(self) -> str:
        """The `query.bibliographic` value: title, first author and year, as a citation."""
        return f"{self.title} {self.author} {self.year}"


def normalise_title(text: str | None) -> str:
    cleaned = clean_text(text) or ""
    folded = unicodedata.normalize("NFKC", cleaned).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def _work_titles(work: dict[str, Any]) -> list[str]:
    titles = [normalise_title(_first(work.get("title")))]
    if subtitle := normalise_title(_first(work.get("subtitle"))):
        titles.append(f"{titles[0]} {subtitle}")
    return titles


def title_similarity(record: str, work: dict[str, Any]) -> float:
    mine = normalise_title(record)
    return max(fuzz.ratio(mine, title) for title in _work_titles(work)) / 100 if mine else 0.0


def changed_words(record: str, work: dict[str, Any]) -> set[str]:
    """The content words that only one of the titles has (the closest of the work's titles)."""

    def content(title: str) -> set[str]:
        return {word for word in title.split() if len(word) >= CONTENT_WORD}

    mine = content(normalise_title(record))
    return min((mine ^ content(title) for title in _work_titles(work)), key=len)


def work_years(work: dict[str, Any]) -> set[int]:
    years = set()
    for name in _DATE_FIELDS:
        parts = (work.get(name) or {}).get("date-parts") or [[]]
        if parts and parts[0] and isinstance(parts[0][0], int):
            years.add(parts[0][0])
    return years


def first_author(work: dict[str, Any]) -> str | None:
    authors = [a for a in work.get("author") or [] if isinstance(a, dict)]
    first = next(
        (a for a in authors if a.get("sequence") == "first"), authors[0] if authors else None
    )
    if first is None:
        return None
    if first.get("family"):
        return f"{first['family']}, {first.get('given') or ''}".strip(", ")
    return first.get("name") or first.get("literal")


def judge(query: Query, items: list[dict[str, Any]]) -> tuple[DoiMatch, dict[str, Any] | None]:
    """The evidence, and the accepted work (None when no candidate passes)."""
    judged = [_judge_one(query, item) for item in items if normalize_doi(item.get("DOI"))]
    if not judged:
        return DoiMatch(status="no_answer", query=query.text(), reason="no candidate works"), None
    passed = {m.doi: (m, item) for m, item in judged if m.reason is None}
    if len(passed) > 1:
        dois = ", ".join(sorted(str(d) for d in passed))
        best = judged[0][0]
        return best.model_copy(update={"status": "refused", "reason": f"ambiguous: {dois}"}), None
    if passed:
        evidence, item = next(iter(passed.values()))
        return evidence.model_copy(update={"status": "matched"}), item
    best = max(judged, key=lambda pair: (pair[0].title_similarity or 0.0, pair[0].score or 0.0))[0]
    return best.model_copy(update={"status": "refused"}), None


def _judge_one(query: Query, item: dict[str, Any]) -> tuple[DoiMatch, dict[str, Any]]:
    score = float(item.get("score") or 0.0)
    similarity = round(title_similarity(query.title, item), 3)
    years = work_years(item)
    author = first_author(item)
    reasons = []
    if score < MIN_SCORE:
        reasons.append(f"score {score:g} < {MIN_SCORE:g}")
    if similarity < MIN_TITLE_SIMILARITY:
        reasons.append(f"title similarity {similarity:.3f} < {MIN_TITLE_SIMILARITY}")
    elif changed := changed_words(query.title, item):
        reasons.append(f"title words differ: {', '.join(sorted(changed)[:4])}")
    if query.year not in years:
        reasons.append(f"year {sorted(years) or 'none'} is not {query.year}")
    if not (author and same_person(query.author, author)):
        reasons.append(f"first author {author or 'none'!s} is not {query.author}")
    evidence = DoiMatch(
        status="refused",
        doi=normalize_doi(item.get("DOI")),
        score=score,
        title_similarity=similarity,
        year=min(years, key=lambda y: abs(y - query.year)) if years else None,
        author=author,
        query=query.text(),
        reason="; ".join(reasons) or None,
    )
    return evidence, item


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None
