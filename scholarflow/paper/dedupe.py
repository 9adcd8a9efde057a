"""Duplicates without a DOI across languages: one paper, two records, no DOI to join them.

The aggregator sends a paper with its Chinese title at the top and the English one inside the
double-encoded `resultStr`, its authors often in Chinese characters; another source sends the
same paper with the English title alone, the authors in pinyin (`林业杰` there, `LIN Ye-Jie`
here). A paper without a DOI gets an id from its title, first author and year as written, so
the two became two documents.

The rule: two records without a DOI are one paper when
- their English titles are the same once case, spacing and punctuation are dropped
  (`match_key`, stored on the document: the year and the folded title),
- their years are the same (part of the key),
- their authors agree (`authors_agree`): the first authors are the same person, and so are at
  least two thirds of the shorter author list's first `AUTHORS_COMPARED` (scholarflow/paper/names.py
  reads Chinese names in pinyin and either order of a romanised name).

A record that meets a document of the live index (or an earlier record of the same run) this way
takes its id, and the duplicate rules (tasks/index.py, scholarflow/paper/merging.py) fold it in, as
for a shared DOI: counted `merged`, nothing lost. Records with a DOI are never joined this way; a
DOI is the stronger key, and records that should share one are the DOI search's to find.
What the rule accepts to miss and refuse is measured in docs/dedupe.md.

A document that moved to the DOI a later search found (scholarflow/paper/doi_moves.py) stays what
the paper's records without a DOI meet: it keeps its key, and lists the ids it had (`former_ids`),
so a record of it that comes again without its DOI (an offline run) joins it instead of
making the old document anew.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.paper.models import Paper
from scholarflow.paper.names import same_person
from scholarflow.run_scoped import PerRun

MATCH_FIELD = "match_key"
# The ids a document had before it moved to the DOI a search found (scholarflow/paper/doi_moves.py).
FORMER_IDS = "former_ids"
AUTHORS_COMPARED = 5
# Keys of documents written by a run, remembered per run: its later batches find them before
# a refresh makes them searchable (a replay re-index loads with refreshes off).
RUN_KEYS = 200_000


def title_key(paper: Paper) -> str | None:
    """`year|folded English title`, or None for a paper without both."""
    if not paper.title_en or paper.published is None:
        return None
    folded = unicodedata.normalize("NFKC", paper.title_en).casefold()
    title = re.sub(r"[\W_]+", "", folded)
    return f"{paper.published.year}|{title}" if title else None


def match_key(paper: Paper) -> str | None:
    """The key a record without a DOI joins by; None when it cannot be joined."""
    return None if paper.doi else title_key(paper)


def document_key(paper: Paper) -> str | None:
    """The key a document is joined by: a paper's without a DOI, or whose DOI only a search
    found (its records without one still meet it)."""
    return title_key(paper) if paper.doi is None or paper.doi_source == "matched" else None


def authors_agree(mine: list[str], theirs: list[str]) -> bool:
    """First authors the same person, and two thirds of the shorter list's first few, each
    paired with a different author of the other list (a name listed twice counts once)."""
    if not mine or not theirs or not same_person(mine[0], theirs[0]):
        return False
    shorter, longer = sorted((mine[:AUTHORS_COMPARED], theirs[:AUTHORS_COMPARED]), key=len)
    unpaired = list(longer)
    found = 0
    for name in shorter:
        other = next((o for o in unpaired if same_person(name, o)), None)
        if other is not None:
            unpaired.remove(other)
            found += 1
    return found >= math.ceil(len(shorter) * 2 / 3)


def same_paper(first: Paper, second: Paper) -> bool:
    """The rule for two records (see the module docstring)."""
    key = match_key(first)
    return (
        key is not None
        and key == match_key(second)
        and authors_agree([a.name for a in first.authors], [a.name for a in second.authors])
    )


@dataclass(frozen=True)
class Known:
    """A document a later record may join: its id and its authors."""

    id: str
    authors: tuple[str, ...]


class RunKeys:
    """The keys of the documents a run wrote, and the documents it moved to a DOI (old id →
    DOI), each bounded (oldest forgotten first): until a refresh, searches see neither."""

    def __init__(self, limit: int = RUN_KEYS) -> None:
        self.limit = limit
        self._known: OrderedDict[str, list[Known]] = OrderedDict()
        self._moved: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> list[Known]:
        return self._known.get(key, [])

    def add(self, key: str, known: Known) -> None:
        self._known.setdefault(key, []).append(known)
        self._known.move_to_end(key)
        while len(self._known) > self.limit:
            self._known.popitem(last=False)

    def moved_to(self, doc_id: str) -> str | None:
        return self._moved.get(doc_id)

    def add_moved(self, doc_id: str, doi: str) -> None:
        self._moved[doc_id] = doi
        while len(self._moved) > self.limit:
            self._moved.popitem(last=False)


_runs: PerRun[RunKeys] = PerRun(8)


def run_keys(run_id: str) -> RunKeys:
    """The keys of the documents the run wrote so far."""
    return _runs.get(run_id, RunKeys)


def names_of(paper: Paper) -> tuple[str, ...]:
    return tuple(author.name for author in paper.authors)


def join_same_papers(
    client: Elasticsearch, index: str, papers: list[Paper], run_id: str
) -> list[Paper]:
    """The papers, each record without a DOI that is a paper already indexed (or met earlier
    in the run) carrying that document's id: the document its own moved to, or one of the
    same key and authors. A paper whose DOI a search found is remembered for the run's later
    records."""
    seen = run_keys(run_id)
    for paper in papers:
        if paper.former_id and (key := document_key(paper)):
            seen.add(key, Known(paper.id, names_of(paper)))
    loose = [i for i, paper in enumerate(papers) if not paper.doi]
    if not loose:
        return papers
    keyed = {i: key for i in loose if (key := match_key(papers[i]))}
    stored, moved = _stored(
        client, index, sorted(set(keyed.values())), [papers[i].id for i in loose]
    )
    moved |= {papers[i].id: to for i in loose if (to := seen.moved_to(papers[i].id))}
    joined = list(papers)
    for i in loose:
        paper = papers[i]
        if paper.id in moved:
            joined[i] = paper.model_copy(update={"id": moved[paper.id]})
            continue  # its own document moved to the DOI found for it
        if (key := keyed.get(i)) is None:
            continue
        names = names_of(paper)
        known = [*seen.get(key), *stored.get(key, [])]
        if any(k.id == paper.id for k in known):
            continue  # its own document: it stays where it is
        target = next((k for k in known if authors_agree(list(names), list(k.authors))), None)
        if target is None:
            seen.add(key, Known(paper.id, names))
        else:
            joined[i] = paper.model_copy(update={"id": seen.moved_to(target.id) or target.id})
    return joined


def stored_by_key(client: Elasticsearch, index: str, keys: list[str]) -> dict[str, list[Known]]:
    """The indexed documents that carry these keys."""
    return _stored(client, index, keys, [])[0]


def _stored(
    client: Elasticsearch, index: str, keys: list[str], ids: list[str]
) -> tuple[dict[str, list[Known]], dict[str, str]]:
    """The indexed documents that carry these keys (key → documents), and those that were
    under these ids before they moved to a DOI (former id → the document's id): one search."""
    should: list[dict[str, Any]] = []
    if keys:
        should.append({"terms": {MATCH_FIELD: keys}})
    if ids:
        should.append({"terms": {FORMER_IDS: ids}})
    if not should:
        return {}, {}
    response = client.search(
        index=index,
        query={"bool": {"should": should, "minimum_should_match": 1}},
        source_includes=["authors.name", MATCH_FIELD, FORMER_IDS],
        size=min(10_000, (len(keys) + len(ids)) * 4),
    )
    found: dict[str, list[Known]] = {}
    moved: dict[str, str] = {}
    wanted = set(ids)
    for hit in response["hits"]["hits"]:
        source: dict[str, Any] = hit["_source"]
        names = tuple(a.get("name", "") for a in source.get("authors") or [])
        if key := source.get(MATCH_FIELD):
            found.setdefault(key, []).append(Known(hit["_id"], names))
        moved.update((old, hit["_id"]) for old in source.get(FORMER_IDS) or () if old in wanted)
    return found, moved
