"""Measured search quality: judged queries, MRR@10, nDCG@10 and recall@10 per language group
and per kind of query.

The judged queries (`relevance/judgments.json`) name, for each query, the papers a reader would
want; the metrics say how well the live query builder and analysis put them in the first ten.
They measure whatever index the alias serves, so the analysis profile measured is the one that
index was built with. A re-index checks a sample of them before it moves the alias.

Judged sets (`relevance/sets/<name>/`, described in `relevance/sets/README.md`) carry their own
corpus of real papers beside their queries, so that they can be measured on any engine: a
corpus (`corpus.jsonl`, or `corpus.jsonl.gz`) of papers in Scholarflow's plain JSON shape, each
with the set's own `id`, and queries (`queries.jsonl`) that name those ids.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.errors import ScholarflowError
from scholarflow.package_data import data_dir
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.query import SearchRequest
from scholarflow.search.service import search_index

JUDGMENTS = data_dir("relevance") / "judgments.json"
SETS = data_dir("relevance") / "sets"
CORPUS_FILES = ("corpus.jsonl", "corpus.jsonl.gz")
K = 10
GROUPS = {
    "zh-hans": "Simplified Chinese",
    "zh-hant": "Traditional Chinese",
    "en": "English",
    "mixed": "Chinese + English",
    "doi": "DOI",
}
# The cross-lingual judgments (scholarflow/search/crosslingual_eval.py): asked in one language, of
# papers that have only the other; measured on their own copies of the index.
CROSSLINGUAL_GROUPS = {
    "zh-to-en": "Chinese → English-only papers",
    "en-to-zh": "English → Chinese-only papers",
}
KINDS = {
    "topic": "Topic words",
    "inflection": "Inflections and possessives",
    "author": "Author",
    "journal": "Journal",
    "character": "One Han character",
    "title": "Whole title",
    "doi": "DOI",
    "phrase": "Phrase in quotes",
    "year": "Year typed",
    "citations": "Broad, well cited",
    "recency": "Broad, recent",
}
CROSSLINGUAL_KINDS = {"paraphrase": "Paraphrase in own words"}
ALL = "all"
METRICS = ("ndcg", "recall", "mrr")


@dataclass(frozen=True)
class Judged:
    id: str
    query: str
    group: str
    kind: str
    relevant: dict[str, int]  # paper id → grade (2 the paper asked for, 1 also relevant)


@dataclass(frozen=True)
class JudgedSet:
    """A judged set: its papers (`corpus`, one plain JSON record a line) and its queries, whose
    `relevant` name the papers by the corpus's own `id`."""

    name: str
    corpus: Path
    queries: list[Judged]

    def papers(self) -> Iterator[dict[str, Any]]:
        """The corpus's records, as the file holds them."""
        opener = gzip.open if self.corpus.suffix == ".gz" else open
        with opener(self.corpus, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise SetError(f"{self.corpus}:{number}: not JSON ({exc.msg})") from None


class SetError(ScholarflowError):
    """A judged set that cannot be read, said in one line naming the file and line."""


@dataclass(frozen=True)
class Scored:
    judged: Judged
    ranked: list[str]

    @property
    def reciprocal_rank(self) -> float:
        rank = next((i for i, d in enumerate(self.ranked[:K], 1) if d in self.judged.relevant), 0)
        return 1 / rank if rank else 0.0

    @property
    def ndcg(self) -> float:
        gains = [self.judged.relevant.get(d, 0) for d in self.ranked[:K]]
        ideal = sorted(self.judged.relevant.values(), reverse=True)[:K]
        return _dcg(gains) / _dcg(ideal)

    @property
    def recall(self) -> float:
        found = set(self.ranked[:K]) & set(self.judged.relevant)
        return len(found) / len(self.judged.relevant)

    @property
    def others(self) -> int:
        """Papers in the first K that the judgments do not name: what MRR and nDCG do not see
        when they rank below the relevant ones."""
        return sum(paper not in self.judged.relevant for paper in self.ranked[:K])


def load_judgments(path: Path = JUDGMENTS) -> list[Judged]:
    """Judged queries from a JSON file (`{"queries": [...]}`, as `relevance/judgments.json`) or
    a set's `queries.jsonl` (one query a line)."""
    if path.suffix == ".jsonl":
        return _query_lines(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Judged(**entry) for entry in data["queries"]]


def set_names(root: Path = SETS) -> list[str]:
    """The judged sets shipped under `root`, by folder name."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "queries.jsonl").is_file())


def load_set(name: str, root: Path = SETS) -> JudgedSet:
    """The set `relevance/sets/<name>/` (or a folder path), its queries read and checked."""
    folder = Path(name) if Path(name).is_dir() else root / name
    if not (folder / "queries.jsonl").is_file():
        known = ", ".join(set_names(root)) or "none"
        raise SetError(f"no judged set {name!r} (no {folder / 'queries.jsonl'}; sets: {known})")
    corpus = next((folder / f for f in CORPUS_FILES if (folder / f).is_file()), None)
    if corpus is None:
        raise SetError(f"{folder}: no corpus.jsonl or corpus.jsonl.gz")
    return JudgedSet(folder.name, corpus, _query_lines(folder / "queries.jsonl"))


def _query_lines(path: Path) -> list[Judged]:
    """`{"id", "query", "group", "relevant": {paper id: grade}, "kind"?}` a line."""
    judged: list[Judged] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                judged.append(
                    Judged(
                        id=str(entry["id"]),
                        query=str(entry["query"]),
                        group=str(entry["group"]),
                        kind=str(entry.get("kind") or entry["group"]),
                        relevant={str(k): int(v) for k, v in entry["relevant"].items()},
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SetError(f"{path}:{number}: not a judged query ({exc!r})") from None
    return judged


def rank(client: Elasticsearch, index: str, query: str, hybrid: Hybrid | None = None) -> list[str]:
    """The ids of the first K papers the search returns for a query."""
    request = SearchRequest(query, size=K)
    return [hit["id"] for hit in search_index(client, index, request, hybrid)["hits"]]


def evaluate(
    client: Elasticsearch, index: str, judgments: Iterable[Judged], hybrid: Hybrid | None = None
) -> list[Scored]:
    """Each judged query searched as `scholarflow search` does (`hybrid`: with vectors)."""
    return [Scored(judged, rank(client, index, judged.query, hybrid)) for judged in judgments]


def summarize(
    scored: list[Scored], extra: list[Scored] | None = None
) -> dict[str, dict[str, float]]:
    """Mean metrics per language group, then over all queries; `extra` (the cross-lingual
    groups, measured on other indices) adds its groups after, outside the overall row."""
    groups: dict[str, list[Scored]] = {g: [] for g in GROUPS}
    for item in scored:
        groups.setdefault(item.judged.group, []).append(item)
    groups[ALL] = scored
    for item in extra or []:
        groups.setdefault(item.judged.group, []).append(item)
    return {name: _means(items) for name, items in groups.items() if items}


def summarize_kinds(scored: list[Scored]) -> dict[str, dict[str, float]]:
    """Mean metrics per kind of query (one character, a whole title, an author, …)."""
    kinds: dict[str, list[Scored]] = {k: [] for k in KINDS}
    for item in scored:
        kinds.setdefault(item.judged.kind, []).append(item)
    return {name: _means(items) for name, items in kinds.items() if items}


def report(scored: list[Scored], extra: list[Scored] | None = None) -> dict[str, Any]:
    """Everything `scholarflow eval --json` prints: the table and every query's ranks
    (`extra`: the cross-lingual groups' queries)."""
    everything = [*scored, *(extra or [])]
    return {
        "k": K,
        "groups": summarize(scored, extra),
        "kinds": summarize_kinds(everything),
        "queries": [
            {
                "id": item.judged.id,
                "query": item.judged.query,
                "group": item.judged.group,
                "kind": item.judged.kind,
                "reciprocal_rank": round(item.reciprocal_rank, 4),
                "ndcg": round(item.ndcg, 4),
                "recall": round(item.recall, 4),
                "others": item.others,
                "missed": sorted(set(item.judged.relevant) - set(item.ranked[:K])),
            }
            for item in everything
        ],
    }


def compare(ours: list[Scored], anchor: list[Scored]) -> dict[str, Any]:
    """One group's queries as Scholarflow and the anchor ranked them: nDCG@10, recall@10 and
    MRR@10 of each, Scholarflow's over the anchor's, and the queries each returned nothing
    for."""
    mine, base = _means(ours), _means(anchor)
    return {
        "queries": len(ours),
        "scholarflow": {m: mine[m] for m in METRICS} | {"empty": _empty(ours)},
        "anchor": {m: base[m] for m in METRICS} | {"empty": _empty(anchor)},
        "ratio": {m: round(mine[m] / base[m], 3) if base[m] else None for m in METRICS},
    }


def comparison_table(groups: dict[str, dict[str, Any]]) -> str:
    """The table `scholarflow eval --set` prints for a set: Scholarflow, the anchor, the ratio."""
    lines = [
        "| Query group | Queries | nDCG@10 | anchor | ratio | Recall@10 | anchor | MRR@10 "
        "| anchor | No hits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in groups.items():
        label = "All queries" if name == ALL else GROUPS.get(name, name)
        ours, base, ratio = row["scholarflow"], row["anchor"], row["ratio"]
        cells = [f"{row['queries']}"]
        for metric in ("ndcg", "recall", "mrr"):
            cells += [f"{ours[metric]:.3f}", f"{base[metric]:.3f}"]
            if metric == "ndcg":
                cells.append("–" if ratio["ndcg"] is None else f"{ratio['ndcg']:.2f}")
        cells.append(f"{ours['empty']} / {base['empty']}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(groups: dict[str, dict[str, float]], heading: str = "Query group") -> str:
    """The table `scholarflow eval` prints, for the groups of `summarize` or `summarize_kinds`."""
    lines = [
        f"| {heading} | Queries | MRR@10 | nDCG@10 | Recall@10 | Others@10 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in groups.items():
        labels = GROUPS | CROSSLINGUAL_GROUPS | KINDS | CROSSLINGUAL_KINDS
        label = labels.get(name) or ("All queries" if name == ALL else name)
        lines.append(
            f"| {label} | {row['queries']:.0f} | {row['mrr']:.3f} | {row['ndcg']:.3f} | "
            f"{row['recall']:.3f} | {row['others']:.2f} |"
        )
    return "\n".join(lines)


def _means(items: list[Scored]) -> dict[str, float]:
    return {
        "queries": len(items),
        "mrr": round(fmean(i.reciprocal_rank for i in items), 4),
        "ndcg": round(fmean(i.ndcg for i in items), 4),
        "recall": round(fmean(i.recall for i in items), 4),
        "others": round(fmean(i.others for i in items), 2),
    }


def _empty(items: list[Scored]) -> int:
    return sum(not item.ranked for item in items)


def _dcg(gains: list[int]) -> float:
    return sum((2**gain - 1) / math.log2(position + 2) for position, gain in enumerate(gains))
