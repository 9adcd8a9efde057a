"""Duplicates without a DOI across languages: what the rule (scholarflow/paper/dedupe.py) joins,
what it keeps apart, and which true pairs it misses, on real records.

Pairs are built from real papers: the seeds' duplicate pair (the aggregator's record and the
Wanfang record of the same paper, DOIs removed), the Wanfang records of tests/fixtures/zh_en/
(Chinese and English titles, authors in Chinese characters) and the seeds' CNKI records (pinyin
authors). One record of a pair has the aggregator's shape (Chinese title on top, the English one
in the double-encoded `resultStr`), the other the English title alone; the variants say what
differs. Both are decoded by the real decoder and judged by the rule; then every pair is
ingested into the engine, and the documents counted.

Where a constructed record writes a Chinese name in pinyin, the pinyin comes from the same
library (pypinyin) the rule reads names with; the seeds' pair has the publisher's own spelling.

    uv run python -m benchmarks.dedupe_pairs [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pypinyin import Style, lazy_pinyin

from scholarflow.paper.dedupe import same_paper
from scholarflow.paper.doi import find_doi
from scholarflow.paper.models import Paper, RawRecord
from tasks.decode import decode_record
from tests.conftest import REPO, SEED_RECORDS

ZH_EN = REPO / "tests" / "fixtures" / "zh_en"
Record = dict[str, Any]


@dataclass(frozen=True)
class Item:
    """One real paper: titles, authors as the source writes them, date."""

    title_zh: str
    title_en: str
    authors: list[str]
    date: str


@dataclass
class Pair:
    category: str
    should_join: bool
    first: Record
    second: Record


def wanfang_items() -> list[Item]:
    items = []
    for path in sorted(ZH_EN.glob("wanfang_biorss_datafeed_*.json")):
        for element in json.loads(path.read_text(encoding="utf-8"))["dataFeedElement"]:
            item = element["item"]
            date = element["datePublished"][:10]
            items.append(Item(item["name"]["zh"], item["name"]["en"], item["author"], date))
    return items


def cnki_items() -> list[Item]:
    records = json.loads((SEED_RECORDS / "papers_array.json").read_text(encoding="utf-8"))
    items = []
    for record in records:
        inner = json.loads(record["resultStr"]) if record.get("resultStr") else None
        if record.get("doi") or not inner:
            continue
        authors = [a.strip() for a in record["authors"].split(",")]
        items.append(Item(record["title"], inner["title"], authors, record["publicationDate"]))
    return items


def aggregator(item: Item, authors: list[str] | None = None) -> Record:
    """The aggregator's shape: Chinese title on top, the English record inside `resultStr`."""
    names = ", ".join(authors or item.authors)
    inner = {"title": item.title_en, "authors": names, "doi": None, "resultStr": None}
    return {
        "title": item.title_zh,
        "authors": names,
        "doi": None,
        "publicationDate": item.date,
        "resultStr": json.dumps({**inner, "publicationDate": item.date}, ensure_ascii=False),
    }


def english(title: str, authors: list[str], date: str) -> Record:
    """A record with the English title alone, the authors as a list."""
    return {"title": title, "authors": authors, "doi": None, "publicationDate": date}


def pinyin(name: str, style: str) -> str:
    """A Chinese name romanised as English-language pages write it."""
    family, given = name[:1], name[1:]
    syllables = [s.replace("v", "u") for s in lazy_pinyin(given, style=Style.NORMAL)]
    surname = lazy_pinyin(family, style=Style.NORMAL)[0].replace("v", "u")
    if style == "family-first":  # LIN Ye-Jie
        return f"{surname.upper()} {'-'.join(s.capitalize() for s in syllables)}"
    if style == "given-first":  # Yejie Lin
        return f"{''.join(syllables).capitalize()} {surname.capitalize()}"
    return f"{surname.capitalize()}, {'-'.join(s[0].upper() + '.' for s in syllables)}"


def _romanised(item: Item, style: str) -> list[str]:
    return [pinyin(n, style) if re.search(r"[\u4e00-\u9fff]", n) else n for n in item.authors]


def _restyled(title: str) -> str:
    """The same title as another source spaces, cases and punctuates it."""
    spaced = re.sub(r"\s*([,:;()])\s*", r"\1 ", title).replace("( ", "(")
    return spaced.lower().strip()


def _one_word_changed(title: str) -> str:
    words = title.split()
    swap = {"new": "second", "four": "three", "a": "the", "the": "a"}
    for i, word in enumerate(words):
        if word.lower() in swap:
            words[i] = swap[word.lower()]
            return " ".join(words)
    return "Further " + title


def _year(date: str, delta: int) -> str:
    return f"{int(date[:4]) + delta}{date[4:]}"


def _without_parenthesis(title: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*", " ", title).strip()


def seeds_pair() -> Pair:
    """The seeds' duplicate: one paper from two sources, the authors in two scripts."""
    first = orjson.loads((SEED_RECORDS / "001_d0f09c4d024839cf.txt").read_bytes().split(b"\n")[0])
    second = orjson.loads((SEED_RECORDS / "papers_wanfang.jsonl").read_bytes().split(b"\n")[0])
    inner = _without_doi(json.loads(first["resultStr"]))
    first = {**_without_doi(first), "resultStr": json.dumps(inner, ensure_ascii=False)}
    english_only = {
        k: v for k, v in _without_doi(second).items() if k not in ("TitleCN", "AbstractTextCN")
    }
    return Pair("publisher's pinyin (seeds' duplicate)", True, first, english_only)


def _without_doi(record: Record) -> Record:
    """The record with every field that names its DOI emptied."""
    return {k: None if k == "doi" or find_doi(str(v)) else v for k, v in record.items()}


def pairs() -> Iterator[Pair]:
    yield seeds_pair()
    wanfang, cnki = wanfang_items(), cnki_items()

    def fam(item: Item) -> list[str]:
        return _romanised(item, "family-first")

    variants: list[tuple[str, bool, list[Item], Callable[[Item, int, list[Item]], Record]]] = [
        ("pinyin LIN Ye-Jie", True, wanfang,
         lambda it, i, xs: english(it.title_en, fam(it), it.date)),
        ("pinyin Yejie Lin", True, wanfang,
         lambda it, i, xs: english(it.title_en, _romanised(it, "given-first"), it.date)),
        ("pinyin initials Lin, Y.-J.", True, wanfang,
         lambda it, i, xs: english(it.title_en, _romanised(it, "initials"), it.date)),
        ("title spaced, cased, punctuated otherwise", True, wanfang + cnki,
         lambda it, i, xs: english(_restyled(it.title_en), fam(it), it.date)),
        ("author list cut to the first two", True, wanfang + cnki,
         lambda it, i, xs: english(it.title_en, fam(it)[:2], it.date)),
        ("miss: years differ (online vs issue)", True, wanfang + cnki,
         lambda it, i, xs: english(it.title_en, fam(it), _year(it.date, -1))),
        ("miss: a parenthesis left out of the title", True,
         [it for it in wanfang if "(" in it.title_en],
         lambda it, i, xs: english(_without_parenthesis(it.title_en), fam(it), it.date)),
        ("near: same title and year, other authors", False, wanfang + cnki,
         lambda it, i, xs: english(it.title_en, fam(xs[(i + 1) % len(xs)]), it.date)),
        ("near: same title and authors, another year", False, wanfang + cnki,
         lambda it, i, xs: english(it.title_en, fam(it), _year(it.date, 2))),
        ("near: same first author, other co-authors", False,
         [it for it in wanfang + cnki if len(it.authors) >= 3],
         lambda it, i, xs: english(
             it.title_en,
             fam(it)[:1]
             + fam(xs[(i + 1) % len(xs)])[1:],
             it.date)),
        ("near: one word of the title changed", False, wanfang + cnki,
         lambda it, i, xs: english(_one_word_changed(it.title_en), fam(it), it.date)),
    ]  # fmt: skip
    for category, should_join, items, build in variants:
        for i, item in enumerate(items):
            yield Pair(category, should_join, aggregator(item), build(item, i, items))
    # Real near pairs: one author's two papers of the same year, in the same journal issue.
    by_first: dict[str, list[Item]] = {}
    for item in wanfang:
        by_first.setdefault(item.authors[0], []).append(item)
    for same_author in by_first.values():
        for first, second in itertools.pairwise(same_author):
            yield Pair(
                "near: same first author and year, another paper (real)",
                False,
                aggregator(first),
                english(second.title_en, _romanised(second, "family-first"), second.date),
            )


def decode(record: Record, where: str) -> Paper:
    paper = decode_record(RawRecord("pairs", where, payload=record))
    assert isinstance(paper, Paper), paper
    return paper


def judged(ingest: bool) -> dict[str, dict[str, Any]]:
    """Per category: pairs, how many the rule joins, and whether it should; with `ingest`, how
    many a whole ingest of the category's records joined."""
    by_category: dict[str, list[Pair]] = {}
    for pair in pairs():
        by_category.setdefault(pair.category, []).append(pair)
    table: dict[str, dict[str, Any]] = {}
    for k, (category, group) in enumerate(by_category.items()):
        joined = sum(
            same_paper(decode(p.first, f"{n}a"), decode(p.second, f"{n}b"))
            for n, p in enumerate(group)
        )
        row = {"should_join": group[0].should_join, "pairs": len(group), "joined": joined}
        if ingest:
            row["joined_by_ingest"] = 2 * len(group) - ingest_documents(group, f"dedupe-pairs-{k}")
        table[category] = row
    return table


def ingest_documents(group: list[Pair], alias: str) -> int:
    """The pairs' records through a whole ingest into the engine (`SCHOLARFLOW_*` settings,
    an alias of their own, deleted after): how many documents they became."""
    from flows.ingest import run_ingest
    from scholarflow.engine.client import connect
    from scholarflow.settings import DoiLookup, get_settings
    from scholarflow.stores.indices import generations

    settings = get_settings().model_copy(update={"alias": alias, "doi_lookup": DoiLookup.OFF})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.jsonl"
        lines = [orjson.dumps(record) for p in group for record in (p.first, p.second)]
        path.write_bytes(b"\n".join(lines) + b"\n")
        client = connect(settings)
        try:
            summary = run_ingest(settings, [str(path)], 500, full=True)
            summary.check()
            client.indices.refresh(index=settings.alias)
            return int(client.count(index=settings.alias)["count"])
        finally:
            for name in generations(client, alias):
                client.indices.delete(index=name, ignore_unavailable=True)


def markdown(table: dict[str, dict[str, Any]]) -> str:
    ingested = all("joined_by_ingest" in row for row in table.values())
    head = "| Pair | Should be one paper | Pairs | Joined | Kept apart |"
    lines = [head + (" Joined by an ingest |" if ingested else ""), "|---|---|---:|---:|---:|"]
    lines[1] += "---:|" if ingested else ""
    for category, row in table.items():
        should = "yes" if row["should_join"] else "no"
        line = (
            f"| {category} | {should} | {row['pairs']} | {row['joined']} | "
            f"{row['pairs'] - row['joined']} |"
        )
        lines.append(line + (f" {row['joined_by_ingest']} |" if ingested else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="One JSON object.")
    parser.add_argument("--no-ingest", action="store_true", help="Judge the pairs only.")
    args = parser.parse_args()
    table = judged(ingest=not args.no_ingest)
    if args.json:
        print(json.dumps(table, ensure_ascii=False))
    else:
        print(markdown(table))


if __name__ == "__main__":
    main()
