"""Decoding the declared formats against the aggregator's records, per record, on one core.

The aggregator rows are the benchmark corpus's records (read before the clock); each declared
format cycles the recorded records of its shape (tests/fixtures/: Crossref works from habanero's
recordings, Zenodo's Dublin Core pages, the OpenAlex work) up to as many records. Only
`decode_record` is timed; a row's detail says its time per record against the aggregator's.
"""

from __future__ import annotations

import time
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import orjson

from benchmarks.measure import Params, Row, best_of, mbytes

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
HARVEST = FIXTURES / "harvest"


def _crossref() -> list[dict[str, Any]]:
    works = [
        orjson.loads(p.read_bytes()) for p in sorted((FIXTURES / "doi").glob("crossref_work_*"))
    ]
    for page in sorted((HARVEST / "crossref").glob("habanero_cursor_widget_page*.json")):
        works += orjson.loads(page.read_bytes())["message"]["items"]
    return works


def _openalex() -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted((HARVEST / "openalex").glob("*.json"))]


def _dublin_core() -> list[dict[str, Any]]:
    from scholarflow.paper.models import RawRecord
    from scholarflow.stores.harvest_sources import new_source
    from tasks.harvest.oai import OAI, OaiPmh, parse_page

    reader = OaiPmh(new_source("bench", "oai-pmh", "http://127.0.0.1:9"), None, None)  # type: ignore[arg-type]
    payloads: list[dict[str, Any]] = []
    for page in sorted((HARVEST / "oai").glob("zenodo_listrecords_*.xml")):
        root = parse_page(page.read_bytes())
        for record in root.iter(f"{OAI}record"):
            item = reader._record(record, "bench", "page")
            if isinstance(item, RawRecord) and item.payload:
                payloads.append(item.payload)
    return payloads


SHAPES = {"crossref": _crossref, "openalex": _openalex, "oai_dc": _dublin_core}


def decode_formats(p: Params) -> dict[str, Row]:
    from scholarflow.paper.models import RawRecord
    from tasks.decode import decode_record
    from tasks.fetch import read_records

    count = min(p.records, 5_000)
    aggregator = list(islice(read_records([p.corpus]), count))

    def timed(records: list[RawRecord]) -> tuple[int, float]:
        def run() -> int:
            for record in records:
                decode_record(record)
            return len(records)

        return best_of(p.repeat, run, time.process_time)

    done, seconds = timed(aggregator)
    base = seconds / done
    rows = {
        "decode_aggregator": Row(
            "decode: aggregator records", done, seconds, "cpu", mbytes(p.corpus)
        )
    }
    for shape, load in SHAPES.items():
        payloads = load()
        records = [
            RawRecord("bench", f"item {i}", payload=payload, format=shape)
            for i, payload in enumerate(islice(cycle(payloads), count))
        ]
        done, seconds = timed(records)
        ratio = seconds / done / base
        rows[f"decode_{shape}"] = Row(
            f"decode: {shape}",
            done,
            seconds,
            "cpu",
            0.0,
            detail=(
                f"{len(payloads)} recorded records cycled; "
                f"{ratio:.2f}x the aggregator's time per record"
            ),
        )
    return rows
