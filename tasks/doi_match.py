"""Match: a DOI for each record that came without one, from Crossref's bibliographic search.

A record with a title, a first author and a year is searched by them (`query.bibliographic`)
through the run's resolver: the same cache, lookup mode (`cache-only` reads only the search
cache, `off` never gets here), rate limiter, retries and circuit breaker as DOI lookups. The
candidates are judged by the acceptance rule (scholarflow/registry/matching.py). An accepted
DOI becomes the paper's DOI and id (`doi_source: matched`; the id it had is kept as `former_id`,
so a document indexed under it by an earlier run moves to the DOI: scholarflow/paper/doi_moves.py),
and the paper then merges, by the duplicate rules, with any other record of that DOI; the accepted
work is stored as the DOI's
cache entry, so enriching the paper costs no second request. Every searched paper keeps the
evidence (`doi_match`), matched or not. A DOI from the record itself is never searched for or
replaced.
"""

from __future__ import annotations

from datetime import datetime

from scholarflow.paper.models import DoiMatch, Paper
from scholarflow.paper.text import is_chinese
from scholarflow.registry import Lookup, Resolver
from scholarflow.registry.matching import MIN_TITLE_WORDS, ROWS, Query, judge, normalise_title
from scholarflow.registry.search_cache import search_key

# A Chinese title has no spaces: this many characters stand for the words of an English one.
MIN_CHINESE_TITLE_CHARS = 8
# Without candidates: the status, and the reason in words that do not change from one run to
# the next for the same answer (the paper's content hash includes them: two offline runs are
# the same run).
_NO_ANSWER = {
    "cache_miss": ("cache_miss", "not in the search cache (lookups are cache-only)"),
    "unreachable": ("deferred", "Crossref unreachable: the next ingest of the record searches"),
    "not_found": ("no_answer", "Crossref has no candidate works"),
}


def search_query(paper: Paper) -> Query | str:
    """What the paper is searched by, or why it cannot be."""
    title = paper.title_en or paper.title_zh or ""
    words = normalise_title(title).split()
    short = (
        len("".join(words)) < MIN_CHINESE_TITLE_CHARS
        if is_chinese(title)
        else len(words) < MIN_TITLE_WORDS
    )
    if short:
        return "title too short to search by"
    if not paper.authors:
        return "no author to search by"
    if paper.published is None:
        return "no year to search by"
    return Query(title, paper.authors[0].name, paper.published.year)


def match_dois(
    papers: list[Paper], resolver: Resolver, searched_after: datetime | None = None
) -> list[Paper]:
    """The papers, those without a DOI searched for one (see the module docstring); a search
    answered before `searched_after` is made again (re-enrichment), not read from the cache."""
    queries: dict[int, Query] = {}
    matched = list(papers)
    for i, paper in enumerate(papers):
        if paper.doi:
            continue
        query = search_query(paper)
        if isinstance(query, str):
            matched[i] = paper.model_copy(
                update={"doi_match": DoiMatch(status="skipped", reason=query)}
            )
        else:
            queries[i] = query
    if not queries:
        return matched
    keys = {i: search_key(q.text(), ROWS) for i, q in queries.items()}
    answers = resolver.search({keys[i]: q.text() for i, q in queries.items()}, ROWS, searched_after)
    works: list[Lookup] = []
    for i, query in queries.items():
        answer = answers[keys[i]]
        evidence, work = _decide(query, answer)
        if work is None or evidence.doi is None:
            matched[i] = papers[i].model_copy(update={"doi_match": evidence})
            continue
        doi = evidence.doi
        update = {
            "id": doi,
            "doi": doi,
            "doi_source": "matched",
            "doi_match": evidence,
            "former_id": papers[i].id,
        }
        matched[i] = papers[i].model_copy(update=update)
        works.append(Lookup(doi, "found", "crossref", {"message": work}, answer.fetched_at))
    resolver.cache.put_many(works)
    return matched


def _decide(query: Query, answer: Lookup) -> tuple[DoiMatch, dict | None]:
    if answer.status == "found" and answer.body is not None:
        return judge(query, answer.body.get("items") or [])
    status, reason = _NO_ANSWER.get(answer.status, ("failed", answer.detail or "unusable answer"))
    return DoiMatch(status=status, query=query.text(), reason=reason), None
