"""Judged sets measured on the engine: each set's corpus ingested into a throw-away alias of its
own through the normal ingest run (DOI lookups off; plain calls, no flow run of its own), the
textbook BM25 anchor built beside it in the same run, every query searched in both, and the
figures per query group side by side (`scholarflow eval --set NAME`).

Scholarflow names its documents by DOI or by a hash of title, first author and year, and may
merge two records it holds to be one paper; the set's judgments name the set's own ids. The
indexed papers' provenance (`line N` of the corpus) maps each document back to the set ids of
the lines it holds, so a merged paper answers for every line in it, and a line rejected or
missing is counted, never silently dropped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from flows.ingest import run_ingest
from scholarflow.engine.client import connect
from scholarflow.paper.models import Outcome
from scholarflow.search import relevance
from scholarflow.search.anchor import build_anchor, rank_anchor
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.relevance import JudgedSet, Scored
from scholarflow.settings import DoiLookup, Settings
from scholarflow.stores.indices import generations

ALIAS_PREFIX = "evalset-"  # Scholarflow's index of a set: `evalset-<name>` (+ `-000001`)
ANCHOR_PREFIX = "evalanchor-"  # the anchor's index of a set
K = relevance.K


@dataclass
class SetResult:
    """One set measured: how its corpus was loaded, and each query scored in both indices."""

    name: str
    papers: dict[str, int]
    scholarflow: list[Scored] = field(default_factory=list)
    anchor: list[Scored] = field(default_factory=list)


def evaluate_set(
    settings: Settings,
    judged_set: JudgedSet,
    *,
    hybrid: Hybrid | None = None,
    embed: bool = False,
    keep: bool = False,
) -> SetResult:
    """Load `judged_set` into its alias and its anchor, search every query in both (Scholarflow
    as `scholarflow search` does, with vectors when `embed` made them and `hybrid` is given),
    and delete both indices unless `keep` (a kept alias is read again without writing: its
    records are unchanged)."""
    alias = ALIAS_PREFIX + judged_set.name
    anchor = ANCHOR_PREFIX + judged_set.name
    local = settings.model_copy(update={"alias": alias, "doi_lookup": DoiLookup.OFF})
    client = connect(local)
    with _throwaway(client, alias, anchor, keep):
        summary = run_ingest(local, [str(judged_set.corpus)], local.batch_size, full=True)
        if embed:
            from flows.embed import run_embed

            run_embed(local, False, local.embed_batch_size)
        client.indices.refresh(index=alias)
        set_ids = documents_to_set_ids(client, alias, judged_set)
        anchored = build_anchor(client, anchor, judged_set.papers())
        found = {i for ids in set_ids.values() for i in ids}
        papers = {
            "lines": summary.records_read,
            **{outcome.value: summary.outcomes[outcome] for outcome in Outcome},
            "documents": len(set_ids),
            "set_ids_found": len(found),
            "anchor": anchored,
        }
        result = SetResult(judged_set.name, papers)
        for judged in judged_set.queries:
            ranked = relevance.rank(client, alias, judged.query, hybrid)
            result.scholarflow.append(Scored(judged, _as_set_ids(ranked, set_ids)))
            result.anchor.append(Scored(judged, rank_anchor(client, anchor, judged.query, K)))
    return result


def documents_to_set_ids(
    client: Elasticsearch, alias: str, judged_set: JudgedSet
) -> dict[str, list[str]]:
    """Document id → the set ids of the corpus lines it holds (read from its provenance)."""
    by_line = dict(_line_ids(judged_set))
    mapping: dict[str, list[str]] = {}
    for hit in helpers.scan(client, index=alias, _source=["provenance.location"], size=1000):
        places = hit["_source"].get("provenance") or []
        ids = [by_line[p["location"]] for p in places if p.get("location") in by_line]
        if ids:
            mapping[hit["_id"]] = list(dict.fromkeys(ids))
    return mapping


def _line_ids(judged_set: JudgedSet) -> Iterator[tuple[str, str]]:
    """(`line N`, set id) for every record line of the corpus, numbered as the ingest reads
    them (bytes split at newlines, blank lines counted)."""
    opener: Any = gzip.open if judged_set.corpus.suffix == ".gz" else open
    with opener(judged_set.corpus, "rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                with suppress(ValueError, KeyError, TypeError):
                    yield f"line {number}", str(json.loads(line)["id"])


def _as_set_ids(ranked: list[str], set_ids: dict[str, list[str]]) -> list[str]:
    return [i for doc in ranked for i in set_ids.get(doc, [doc])]


@contextmanager
def _throwaway(client: Elasticsearch, alias: str, anchor: str, keep: bool) -> Iterator[None]:
    try:
        yield
    finally:
        if not keep:
            for name in [*generations(client, alias), anchor]:
                client.indices.delete(index=name, ignore_unavailable=True)


def engine_name(client: Elasticsearch) -> str:
    """`opensearch 2.19.6 (Lucene 9.12.3)`: the engine every figure of a run comes from."""
    version = client.info()["version"]
    name = f"{version.get('distribution', 'elasticsearch')} {version['number']}"
    lucene = version.get("lucene_version")
    return f"{name} (Lucene {lucene})" if lucene else name


def set_report(result: SetResult) -> dict[str, Any]:
    """Per group (and over all the set's queries): Scholarflow's and the anchor's metrics, and
    Scholarflow's over the anchor's; every query's first relevant rank in both."""
    groups: dict[str, tuple[list[Scored], list[Scored]]] = {}
    for ours, theirs in zip(result.scholarflow, result.anchor, strict=True):
        for name in (ours.judged.group, relevance.ALL):
            mine, base = groups.setdefault(name, ([], []))
            mine.append(ours)
            base.append(theirs)
    if len(groups) == 2:  # one group: its row and the overall row are the same
        groups.pop(relevance.ALL)
    return {
        "name": result.name,
        "papers": result.papers,
        "groups": {name: relevance.compare(*pair) for name, pair in groups.items()},
        "queries": [
            {
                "id": ours.judged.id,
                "query": ours.judged.query,
                "group": ours.judged.group,
                "ndcg": round(ours.ndcg, 4),
                "anchor_ndcg": round(theirs.ndcg, 4),
                "hits": len(ours.ranked),
                "missed": sorted(set(ours.judged.relevant) - set(ours.ranked[:K])),
            }
            for ours, theirs in zip(result.scholarflow, result.anchor, strict=True)
        ],
    }
