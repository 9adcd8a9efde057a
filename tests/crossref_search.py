"""Crossref's bibliographic search (`GET /works?query.bibliographic=…&rows=N`) on 127.0.0.1,
answering from the real recorded works in `tests/fixtures/doi/`.

The answer has the shape Crossref documents and returns (checked against a recorded answer of
the public API in the habanero client's test cassettes): `status`, `message-type: work-list`,
and a `message` with `total-results`, `items-per-page`, `query` and `items`, each item a whole
work with its relevance `score`. The score here is made up the way a relevance score behaves:
it grows with the query's words found in the work's title, authors, journal and years, so the
work a citation describes ranks first and the works sharing a few words follow with less.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.fixture_server import FIXTURES, Reply

WORK_FIXTURES = sorted((FIXTURES / "doi").glob("crossref_work_*.json"))
# Words a query shares with a work before it is a candidate at all.
MIN_SHARED_WORDS = 2
SCORE_PER_WORD = 4.7


def recorded_works(paths: list[Path] = WORK_FIXTURES) -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8"))["message"] for path in paths]


_STOPWORDS = {"the", "and", "for", "with", "from", "that", "are", "was"}


def _words(text: str) -> set[str]:
    words = re.findall(r"\w{3,}", re.sub(r"<[^>]+>", " ", text).casefold())
    return set(words) - _STOPWORDS


def _searchable(work: dict[str, Any]) -> set[str]:
    names = [f"{a.get('given', '')} {a.get('family', '')}" for a in work.get("author") or []]
    years = [
        str(p[0]) for k in ("issued", "published") for p in work.get(k, {}).get("date-parts", [])
    ]
    texts = [*work.get("title", []), *work.get("container-title", []), *names, *years]
    return _words(" ".join(texts))


def search_answer(works: list[dict[str, Any]], query_string: str) -> Reply:
    """The work-list answer to one `/works?query.bibliographic=…` request."""
    params = parse_qs(query_string)
    text = params.get("query.bibliographic", [""])[0]
    rows = int(params.get("rows", ["20"])[0])
    wanted = _words(text)
    scored = []
    for work in works:
        shared = len(wanted & _searchable(work))
        if shared >= MIN_SHARED_WORDS:
            scored.append({**work, "score": round(shared * SCORE_PER_WORD, 4)})
    scored.sort(key=lambda item: -item["score"])
    message = {
        "facets": {},
        "total-results": len(scored),
        "items": scored[:rows],
        "items-per-page": rows,
        "query": {"start-index": 0, "search-terms": text},
    }
    return Reply.json(
        {
            "status": "ok",
            "message-type": "work-list",
            "message-version": "1.0.0",
            "message": message,
        }
    )
