"""Read + decode per record for every declared format, against the aggregator's shape on one
core: the file exports (fetch + decode from a file) and the harvested shapes (a recorded page or
snapshot line parsed as the connector parses it, then decoded).

`python -m benchmarks` runs it as the `formats` case (one row per shape); on its own,
`python -m benchmarks.formats [--records N] [--repeat R]` prints the same rows. Each format's
corpus is its recorded real data (tests/fixtures/formats/, tests/fixtures/harvest/,
tests/fixtures/doi/) repeated to N records; the aggregator's is the generated corpus
(`benchmarks/corpus.py`), or the seed records repeated when run on its own. Every figure is
process CPU time per record, the best of R runs; the target is each format within 1.5× the
aggregator's time a record.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import cycle
from pathlib import Path
from typing import Any

import orjson

from benchmarks.measure import Params, Row, best_of

TESTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FIXTURES = TESTS / "formats"
HARVEST = TESTS / "harvest"
SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "records"
TARGET = 1.5
# The recorded exports of each format, and how a file of many records is made from them.
SHAPES: dict[str, tuple[str, str]] = {
    "medline": ("medline", "*.xml"),
    "ris": ("ris", "*.ris"),
    "bibtex": ("bibtex", "*.bib"),
    "endnote": ("endnote", "*.enw"),
    "refworks": ("refworks", "*.txt"),
    "noteexpress": ("noteexpress", "*.net"),
}


def corpus(shape: str, records: int, out: Path) -> Path:
    """A file of about `records` records of `shape`, made of its recorded exports repeated."""
    folder, pattern = SHAPES[shape]
    sources = sorted((FIXTURES / folder).glob(pattern))
    # UTF-8 files only: the GB18030 and GBK copies would time encoding detection, once a file.
    sources = [s for s in sources if _utf8(s)]
    if shape == "medline":
        return _medline(sources, records, out)
    texts = [s.read_text("utf-8-sig").strip() + "\n\n" for s in sources]
    per_round = sum(_count(shape, t) for t in texts)
    path = out / f"{shape}{'.txt' if shape == 'refworks' else Path(pattern).suffix}"
    path.write_text("".join(texts) * max(1, records // per_round), "utf-8")
    return path


def _utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _medline(sources: list[Path], records: int, out: Path) -> Path:
    bodies = []
    for source in sources:
        text = source.read_text("utf-8")
        start = text.index("<PubmedArticleSet>") + len("<PubmedArticleSet>")
        bodies.append(text[start : text.rindex("</PubmedArticleSet>")])
    body = "".join(bodies)
    per_round = body.count("<PubmedArticle>") + body.count("<PubmedBookArticle>")
    path = out / "pubmed.xml"
    path.write_text(
        '<?xml version="1.0" ?>\n<PubmedArticleSet>'
        + body * max(1, records // per_round)
        + "</PubmedArticleSet>\n",
        "utf-8",
    )
    return path


def _count(shape: str, text: str) -> int:
    marks = {
        "ris": "TY  - ",
        "bibtex": "\n@",
        "endnote": "%T ",
        "refworks": "\nRT ",
        "noteexpress": "{Reference Type}:",
    }
    return max(1, ("\n" + text).count(marks[shape]))


def _records_in(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(1, sum(line.startswith(b"{") for line in handle))


def fetch_and_decode(paths: Iterable[Path]) -> int:
    from tasks.fetch import read_records

    return read_and_decode(lambda: read_records([str(p) for p in paths], deletions=[]))


# The harvested shapes: each reads recorded bytes (pages, snapshot lines) into records.
def _oai(prefix: str) -> Callable[[int], Callable[[], Iterator[Any]]]:
    """Zenodo's recorded `ListRecords` pages in `prefix`, parsed and read as the OAI-PMH
    connector does."""

    def make(records: int) -> Callable[[], Iterator[Any]]:
        from scholarflow.stores.harvest_sources import new_source
        from tasks.harvest.oai import OAI, OaiPmh, parse_page

        found = sorted((HARVEST / "oai").glob(f"zenodo_listrecords_{prefix}_*.xml"))
        pages = [p.read_bytes() for p in found]
        source = new_source("bench", "oai-pmh", "http://127.0.0.1:9", prefix=prefix)
        reader = OaiPmh(source, None, None)  # type: ignore[arg-type]

        def read_pages(rounds: int) -> Iterator[Any]:
            for page in pages * rounds:
                for element in parse_page(page).iter(f"{OAI}record"):
                    item = reader._record(element, "bench", "page")
                    if not isinstance(item, str):  # a deleted record's identifier
                        yield item

        per_round = sum(1 for _ in read_pages(1))
        return lambda: read_pages(max(1, records // per_round))

    return make


def _crossref(records: int) -> Callable[[], Iterator[Any]]:
    """habanero's recorded `/works` cursor pages, read as the Crossref connector reads them."""
    from scholarflow.paper.models import RawRecord
    from tasks.harvest.crossref import CROSSREF
    from tasks.harvest.cursor import parse_json

    def items(page: bytes) -> list[Any]:
        found = CROSSREF.read_page(parse_json(page))
        return found.items if found else []

    pages = [
        p.read_bytes()
        for p in sorted((HARVEST / "crossref").glob("habanero_cursor_widget_page*.json"))
    ]
    per_round = sum(len(items(page)) for page in pages)

    def read() -> Iterator[Any]:
        for page in pages * max(1, records // per_round):
            for item in items(page):
                yield RawRecord("bench", str(item.get("DOI")), payload=item, format="crossref")

    return read


def _openalex(records: int) -> Callable[[], Iterator[Any]]:
    """The recorded OpenAlex works as a gzip JSON Lines snapshot part, read line by line."""
    from tasks.harvest.openalex import _line_record

    works = [orjson.loads(p.read_bytes()) for p in sorted((HARVEST / "openalex").glob("*.json"))]
    lines = [orjson.dumps(w) + b"\n" for _, w in zip(range(records), cycle(works), strict=False)]
    part = gzip.compress(b"".join(lines))

    def read() -> Iterator[Any]:
        with gzip.open(io.BytesIO(part), "rb") as stream:
            for number, line in enumerate(stream, start=1):
                yield _line_record("bench", f"line {number}", line)

    return read


HARVESTED: dict[str, Callable[[int], Callable[[], Iterator[Any]]]] = {
    "oai_dc": _oai("oai_dc"),
    "datacite": _oai("datacite"),
    "crossref": _crossref,
    "openalex": _openalex,
}


def read_and_decode(read: Callable[[], Iterator[Any]], batch_size: int = 1000) -> int:
    from tasks.decode import decode_records
    from tasks.fetch import batched

    count = 0
    for batch in batched(read(), batch_size):
        decode_records(batch)
        count += len(batch)
    return count


def measure(aggregator: Path, records: int, repeat: int) -> dict[str, Row]:
    """One row per shape, the aggregator's first: read + decode, and decode alone (the records
    read before the clock), each with its ratio to the aggregator's; the target is judged on
    the decoder's time."""
    from itertools import islice

    from tasks.fetch import read_records

    def aggregator_records() -> Iterator[Any]:
        return islice(read_records([str(aggregator)]), records)

    count, seconds, alone = _timings(aggregator_records, repeat)
    base, base_alone = seconds / count, alone / count
    size = aggregator.stat().st_size * min(1.0, count / _records_in(aggregator))
    per_kb = seconds / (size / 1e3)
    rows = {
        "format_aggregator": Row(
            "decode: aggregator JSON",
            count,
            seconds,
            "cpu",
            size / 1e6,
            detail=f"{base * 1e6:.0f} µs a record read + decode ({size / count / 1e3:.1f} kB), "
            f"{per_kb * 1e6:.0f} µs a kB; {base_alone * 1e6:.0f} µs decode alone",
        )
    }
    with tempfile.TemporaryDirectory() as temp:
        readers: dict[str, tuple[Callable[[], Iterator[Any]], float]] = {}
        for shape in SHAPES:
            path = corpus(shape, records, Path(temp))
            from_file: Callable[[], Iterator[Any]] = partial(
                read_records, [str(path)], deletions=[]
            )
            readers[shape] = (from_file, path.stat().st_size / 1e3)
        for shape, make in HARVESTED.items():
            readers[shape] = (make(records), 0.0)
        for shape, (read, kb) in readers.items():
            n, took, decoding = _timings(read, repeat)
            ratio, decode_ratio = (took / n) / base, (decoding / n) / base_alone
            size_note = (
                f" ({kb / n:.1f} kB), {took / kb * 1e6:.0f} µs a kB, "
                f"{(took / kb) / per_kb:.2f}× the aggregator's a kB"
                if kb
                else ""
            )
            verdict = "within" if decode_ratio <= TARGET else "OVER"
            rows[f"format_{shape}"] = Row(
                f"decode: {shape}",
                n,
                took,
                "cpu",
                kb / 1e3,
                detail=f"{took / n * 1e6:.0f} µs a record read + decode{size_note}: "
                f"{ratio:.2f}× the aggregator's time a record; decode alone "
                f"{decoding / n * 1e6:.0f} µs, {decode_ratio:.2f}× ({verdict} {TARGET}×)",
            )
    return rows


def _timings(read: Callable[[], Iterator[Any]], repeat: int) -> tuple[int, float, float]:
    """(records, seconds to read and decode them, seconds to decode them read already), each
    the best of `repeat` runs."""
    from tasks.decode import decode_records
    from tasks.fetch import batched

    count, both = best_of(repeat, lambda: read_and_decode(read), time.process_time)
    held = list(batched(read(), 1000))

    def decode_alone() -> int:
        for batch in held:
            decode_records(batch)
        return count

    _, alone = best_of(repeat, decode_alone, time.process_time)
    return count, both, alone


def formats(p: Params) -> dict[str, Row]:
    """The `python -m benchmarks` case: the generated corpus as the aggregator's shape."""
    return measure(p.corpus, min(p.records, 5_000), p.repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        seeds = Path(temp) / "seeds.txt"
        text = "".join(p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt")))
        per_round = sum(line.startswith("{") for line in text.splitlines())
        seeds.write_text(text * max(1, args.records // per_round), "utf-8")
        rows = measure(seeds, args.records, args.repeat)
    for row in rows.values():
        print(f"{row.case:24} {row.records:6} records  {row.detail}")
    over = [r.case for r in rows.values() if "OVER" in r.detail]
    print(
        "target: every format's decoder within 1.5× the aggregator's time a record:",
        "missed by " + ", ".join(over) if over else "met",
    )
    return 0 if not over else 1


if __name__ == "__main__":
    sys.exit(main())
