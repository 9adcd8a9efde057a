"""A synthetic corpus of aggregator records for the benchmarks, deterministic from a seed number.

Records have the shape of the seed records (`seeds/records/`): a Chinese top-level title, the
English title in a double-encoded `resultStr`, HTML abstracts, numbers as strings, DOIs written
every way the feed writes them. Their text is real: titles and abstracts in both languages are
drawn from the seed records and the paired Chinese/English Wanfang fixtures, and recombined.
Every record is a pure function of `(seed, number)`, so a corpus of any size streams to disk
without being held in memory, and the warm DOI cache can answer for any record it names.
"""

from __future__ import annotations

import gzip
import html
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import opencc
import orjson

from scholarflow.paper.text import clean_text, is_chinese, to_simplified
from tasks.fetch import read_records

REPO = Path(__file__).resolve().parent.parent
SEED_RECORDS = REPO / "seeds" / "records"
SEED_CACHE = REPO / "seeds" / "doi_cache.jsonl"
ZH_EN = REPO / "tests" / "fixtures" / "zh_en"
FETCHED_AT = "2026-06-16T00:00:00+00:00"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


@dataclass(frozen=True)
class Mix:
    """What fraction of the records has each trait (the rest is the common case)."""

    chinese: float = 0.85  # a Chinese title (the aggregator's translation)
    chinese_abstract: float = 0.5
    traditional: float = 0.08  # of the records with Chinese text
    result_str: float = 0.6  # the double-encoded copy is present (else null or missing)
    html_abstract: float = 0.7  # of the English abstracts
    no_doi: float = 0.1
    duplicate: float = 0.02  # the DOI of an earlier record, written another way
    bad: float = 0.01  # a line the pipeline must reject (and count)
    found_in_registry: float = 0.75  # of the DOIs: the warm cache has the work (else a 404)


MIX = Mix()
_DOI_PREFIXES = ("10.1080", "10.3969", "10.1136", "10.1038", "10.1371", "10.16380", "10.11865")
_DOI_SUFFIX = re.compile(r"sfb-(\d+)-(\d+)$")
_PLATFORMS = ("Wanfang", "Wanfang", "CNKI", "Semanticscholar", "Pubmed", "Crossref")
_QUARTILES = ("Q1", "Q2", "Q3", "Q4", "", None)
_SUBJECTS = ("IMMUNOLOGY", "ENTOMOLOGY", "ZOOLOGY", "ONCOLOGY", "PLANT SCIENCES", "CHEMISTRY")
_BAD_KINDS = ("truncated_json", "not_an_object", "no_title", "not_utf8")


@dataclass(frozen=True)
class Text:
    """One paper's texts from the seeds or fixtures (any of them may be missing)."""

    title_en: str | None
    title_zh: str | None
    abstract_en: str | None
    abstract_html: str | None
    abstract_zh: str | None
    journal: str | None
    journal_zh: str | None
    authors: tuple[str, ...]


@dataclass
class CorpusStats:
    """What a written corpus holds, counted while it was written."""

    records: int = 0
    lines: int = 0
    bytes: int = 0
    traits: Counter[str] = field(default_factory=Counter)


class Corpus:
    """Records `0 … n-1` of the corpus for `seed`."""

    def __init__(self, seed: int = 7, mix: Mix = MIX) -> None:
        self.seed = seed
        self.mix = mix
        self.texts = text_pool()
        self.english = [t for t in self.texts if t.title_en]
        self.names = sorted({a for t in self.texts for a in t.authors})

    def rng(self, number: int) -> random.Random:
        return random.Random((self.seed << 40) | number)

    def doi(self, number: int) -> str:
        """The normalised DOI of record `number` (whether or not the record carries it)."""
        prefix = _DOI_PREFIXES[number % len(_DOI_PREFIXES)]
        return f"{prefix}/sfb-{self.seed}-{number}"

    def english_title(self, number: int) -> str:
        """Record `number`'s English title (the registry's title for its DOI)."""
        return self.english[self.rng(number).randrange(len(self.english))].title_en or ""

    def line(self, number: int) -> tuple[bytes, set[str]]:
        """Record `number` as one JSON Lines line, and the traits it was given."""
        rng = self.rng(number)
        pick = self.english[rng.randrange(len(self.english))]  # first draw: see english_title
        other = self.texts[rng.randrange(len(self.texts))]
        traits: set[str] = set()
        mix = self.mix
        if rng.random() < mix.bad:
            kind = _BAD_KINDS[rng.randrange(len(_BAD_KINDS))]
            traits |= {"bad", kind}
            return self._bad_line(kind, rng, pick), traits

        title_zh = pick.title_zh or other.title_zh if rng.random() < mix.chinese else None
        abstract_zh = (
            pick.abstract_zh or other.abstract_zh if rng.random() < mix.chinese_abstract else None
        )
        if (title_zh or abstract_zh) and rng.random() < mix.traditional:
            title_zh, abstract_zh = _traditional(title_zh), _traditional(abstract_zh)
            traits.add("traditional")
        english = pick if pick.abstract_en else other
        abstract = english.abstract_en
        if abstract and rng.random() < mix.html_abstract:
            abstract = english.abstract_html or f"<p>{html.escape(abstract, quote=False)}</p>"
            traits.add("html")

        doi_text: str | None = self._doi_text(number, rng, traits)
        authors = pick.authors or tuple(rng.sample(self.names, k=rng.randint(1, 5)))
        year = rng.randint(1995, 2025)
        date = rng.choice(
            (f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", f"{year}-01", str(year))
        )
        journal_name = pick.journal_zh if title_zh and pick.journal_zh else pick.journal
        record: dict[str, Any] = {
            "title": title_zh or pick.title_en,
            "authors": ", ".join(authors) if rng.random() < 0.8 else list(authors),
            "doi": doi_text,
            "DOIUrl": None,
            "url": None,
            "abstract": abstract or "",
            "PeriodicalId": rng.randint(1000, 99999),
            "journal": {
                "name": journal_name,
                "volume": rng.choice((" ", str(rng.randint(1, 60)))),
                "pages": f"{(p := rng.randint(1, 900))}-{p + rng.randint(1, 20)}",
            },
            "PeriodicalIF": round(rng.uniform(0.2, 12), 4),
            "publicationDate": date,
            "publicationTypes": "Journal Article",
            "fieldsOfStudy": None,
            "isOpenAccess": rng.choice((False, True, "true", "0")),
            "openAccessPdf": "",
            "citationCount": str(rng.randint(0, 400)),
            "resultStr": None,
            "platform": rng.choice(_PLATFORMS),
            "PeriodicalName": journal_name,
            "FirstCategoryId": str(rng.randint(1000, 1999)),
            "ListUrlMain": f"https://doi.org/{self.doi(number)}" if "no_doi" not in traits else "",
            "TitleCN": None,
            "AbstractTextCN": abstract_zh,
            "EPubDate": "",
            "JCR": rng.choice(_QUARTILES),
            "JCRName": rng.choice(_SUBJECTS),
        }
        chance = rng.random()
        if chance < mix.result_str:
            inner = dict(record, title=pick.title_en, resultStr=None)
            record["resultStr"] = orjson.dumps(inner).decode()
            traits.add("result_str")
        elif chance < mix.result_str + (1 - mix.result_str) / 2:
            del record["resultStr"]
            if title_zh:  # without the inner copy the English title travels as TitleCN's peer
                record["TitleCN"], record["title"] = title_zh, pick.title_en
        if title_zh or abstract_zh:
            traits.add("chinese")
        return orjson.dumps(record) + b"\n", traits

    def lines(self, count: int, start: int = 0) -> Iterator[tuple[bytes, set[str]]]:
        for number in range(start, start + count):
            yield self.line(number)

    def write(self, path: Path, count: int) -> CorpusStats:
        """Stream `count` records to `path` (gzip when the name ends in .gz)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        stats = CorpusStats()
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "wb") as out:
            for line, traits in self.lines(count):
                out.write(line)
                stats.records += 1
                stats.lines += 1
                stats.bytes += len(line)
                stats.traits.update(traits)
        return stats

    def registry_number(self, doi: str) -> int | None:
        """The record number a corpus DOI was made for, or None for any other DOI."""
        match = _DOI_SUFFIX.search(doi)
        return int(match.group(2)) if match and int(match.group(1)) == self.seed else None

    def registry_found(self, number: int) -> bool:
        """Whether the registry knows record `number`'s DOI (else the cache holds a 404)."""
        return random.Random(number ^ 0x5EED).random() < self.mix.found_in_registry

    def registry_entry(self, doi: str) -> dict[str, Any] | None:
        """What the warm DOI cache holds for `doi`, in the cache's import format, or None."""
        number = self.registry_number(doi)
        if number is None:
            return None
        entry: dict[str, Any] = {"doi": doi, "source": "crossref", "fetched_at": FETCHED_AT}
        if not self.registry_found(number):
            return dict(entry, status=404)
        templates = registry_templates()
        body = orjson.loads(templates[number % len(templates)])
        work = body.get("message", body)
        work["DOI"] = doi
        work["title"] = [self.english_title(number)]
        return dict(entry, status=200, body=body)

    def _doi_text(self, number: int, rng: random.Random, traits: set[str]) -> str | None:
        if rng.random() < self.mix.no_doi:
            traits.add("no_doi")
            return rng.choice((None, "", " "))
        target = number
        if number and rng.random() < self.mix.duplicate:
            target = rng.randrange(max(0, number - 5000), number)
            traits.add("duplicate")
        doi = self.doi(target)
        form = rng.random()
        if form < 0.6:
            return doi
        if form < 0.75:
            return f"https://doi.org/{doi}"
        if form < 0.85:
            return f"doi:{doi}"
        if form < 0.95:
            return doi.upper()
        return f"http://dx.doi.org/{doi}"

    def _bad_line(self, kind: str, rng: random.Random, pick: Text) -> bytes:
        if kind == "not_an_object":
            return orjson.dumps([pick.title_en, rng.randint(0, 9)]) + b"\n"
        if kind == "no_title":
            return (
                orjson.dumps({"title": " ", "abstract": "", "doi": None, "citationCount": "1"})
                + b"\n"
            )
        body = orjson.dumps({"title": pick.title_zh or pick.title_en, "abstract": pick.abstract_en})
        if kind == "truncated_json":
            return body[: len(body) // 2] + b"\n"
        return body[:-2] + b"\xff\xfe" + body[-2:] + b"\n"  # not_utf8


def _traditional(text: str | None) -> str | None:
    return _s2t().convert(text) if text else text


@cache
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


@cache
def text_pool() -> tuple[Text, ...]:
    """Every paper text in the seed records and the paired Chinese/English fixtures."""
    texts = [_seed_text(r.payload, r.extras) for r in read_records([SEED_RECORDS]) if r.payload]
    for name in sorted(ZH_EN.glob("wanfang_biorss_datafeed_*.json")):
        for element in orjson.loads(name.read_bytes())["dataFeedElement"]:
            item = element["item"]
            titles, abstracts = item.get("name") or {}, item.get("description") or {}
            container = item.get("container") or {}
            texts.append(
                Text(
                    title_en=clean_text(titles.get("en")),
                    title_zh=_simplified(titles.get("zh")),
                    abstract_en=clean_text(abstracts.get("en")),
                    abstract_html=None,
                    abstract_zh=_simplified(abstracts.get("zh")),
                    journal=container.get("en"),
                    journal_zh=container.get("zh"),
                    authors=tuple(item.get("author") or ()),
                )
            )
    return tuple(t for t in texts if t.title_en or t.title_zh)


def _seed_text(payload: dict[str, Any], extras: dict[str, str]) -> Text:
    layers = [payload]
    inner = payload.get("resultStr")
    if isinstance(inner, str) and inner.strip():
        layers.append(orjson.loads(inner))
    titles = [extras.get("title_en")] + [
        layer.get(k) for layer in layers for k in ("title", "TitleCN")
    ]
    abstracts = [extras.get("abstract_en")] + [
        layer.get(k) for layer in layers for k in ("abstract", "AbstractTextCN")
    ]
    title_en, title_zh = _by_script(titles)
    abstract_en, abstract_zh = _by_script(abstracts)
    markup = [a for a in abstracts[1:] if isinstance(a, str) and "<" in a and not is_chinese(a)]
    journal = (payload.get("journal") or {}).get("name") or payload.get("PeriodicalName")
    authors = payload.get("authors") or ""
    names = authors.split(", ") if isinstance(authors, str) else [str(a) for a in authors]
    return Text(
        title_en=title_en,
        title_zh=title_zh,
        abstract_en=abstract_en,
        abstract_html=markup[0] if markup else None,
        abstract_zh=abstract_zh,
        journal=None if journal and is_chinese(journal) else journal,
        journal_zh=journal if journal and is_chinese(journal) else None,
        authors=tuple(n for n in names if n),
    )


def _simplified(value: str | None) -> str | None:
    text = clean_text(value)
    return to_simplified(text) if text else None


def _by_script(values: list[Any]) -> tuple[str | None, str | None]:
    english = chinese = None
    for value in values:
        text = clean_text(value) if isinstance(value, str) else None
        if text and is_chinese(text):
            chinese = chinese or to_simplified(text)  # Traditional comes from the mix only
        elif text:
            english = english or text
    return english, chinese


@cache
def registry_templates() -> tuple[bytes, ...]:
    """The recorded registry answers of the seed cache (found ones), as JSON templates."""
    bodies = []
    for line in SEED_CACHE.read_bytes().splitlines():
        entry = orjson.loads(line)
        if entry["status"] == 200 and entry.get("body"):
            bodies.append(orjson.dumps(entry["body"]))
    return tuple(bodies)


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.corpus 1m corpus.jsonl.gz [--seed 7]`: write one corpus."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=main.__doc__)
    parser.add_argument("size", help=f"{', '.join(SIZES)} or a number of records")
    parser.add_argument("path", type=Path, help="JSON Lines; gzip when it ends in .gz")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = SIZES.get(args.size.lower()) or int(args.size)
    stats = Corpus(args.seed).write(args.path, count)
    size = f"{stats.bytes / 1e6:,.1f} MB"
    print(f"{args.path}: {stats.records:,} records, {size}, traits {dict(stats.traits)}")


if __name__ == "__main__":
    main()
