"""The benchmark cases. Each runs in a process of its own and returns one result row.

Single-core cases time the CPU the process used (`time.process_time`), so other work on the
machine does not skew the ratios between them; cases that use several cores or wait on a
server time the wall clock. Every case reports the best of its repetitions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.corpus import Corpus


@dataclass
class Params:
    corpus: Path
    records: int
    seed: int
    repeat: int = 3
    batch_size: int = 1000
    workers: int = 0
    warmup: Path | None = None  # a small corpus for one-off costs before timing


@dataclass
class Row:
    case: str
    records: int
    seconds: float
    clock: str  # "cpu" or "wall"
    mbytes: float
    peak_rss_mb: float = 0.0
    detail: str = ""

    @property
    def rps(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.mbytes / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(rps=round(self.rps, 1), mb_per_s=round(self.mbps, 2))
        return data


def _lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from handle


def _best(repeat: int, run: Callable[[], int], clock: Callable[[], float]) -> tuple[int, float]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        started = clock()
        count = run()
        best = min(best, clock() - started)
    return count, best


def _mbytes(path: Path) -> float:
    return path.stat().st_size / 1e6


# --- single core -----------------------------------------------------------------------------


def ceiling(p: Params) -> Row:
    """orjson: parse the record and its double-encoded copy, serialise the result."""

    def run() -> int:
        count = 0
        for line in _lines(p.corpus):
            try:
                record = orjson.loads(line)
                if isinstance(record, dict) and isinstance(record.get("resultStr"), str):
                    record["resultStr"] = orjson.loads(record["resultStr"])
            except orjson.JSONDecodeError:
                pass
            orjson.dumps(record)
            count += 1
        return count

    count, seconds = _best(p.repeat, run, time.process_time)
    return Row("ceiling", count, seconds, "cpu", _mbytes(p.corpus))


def baseline(p: Params) -> Row:
    """The straightforward decoder: the json module and BeautifulSoup for the HTML."""
    from bs4 import BeautifulSoup

    def text(value: Any) -> Any:
        return BeautifulSoup(value, "html.parser").get_text() if isinstance(value, str) else value

    def run() -> int:
        count = 0
        for line in _lines(p.corpus):
            try:
                record = json.loads(line)
            except ValueError:
                count += 1
                continue
            if isinstance(record, dict):
                layers = [record]
                if isinstance(record.get("resultStr"), str):
                    try:
                        record["resultStr"] = json.loads(record["resultStr"])
                        layers.append(record["resultStr"])
                    except ValueError:
                        pass
                for layer in layers:
                    layer["abstract"] = text(layer.get("abstract"))
            json.dumps(record, ensure_ascii=False)
            count += 1
        return count

    count, seconds = _best(p.repeat, run, time.process_time)
    return Row("baseline", count, seconds, "cpu", _mbytes(p.corpus))


def decode(p: Params) -> Row:
    """Fetch and decode on one core: raw lines to validated `Paper`s, with the garbage
    collector set as an ingest sets it."""
    from flows.heap import load_heap
    from tasks.decode import decode_records
    from tasks.fetch import batched, read_records

    def run() -> int:
        count = 0
        with load_heap() as collect_garbage:
            for batch in batched(read_records([p.corpus]), p.batch_size):
                decode_records(batch)
                count += len(batch)
                collect_garbage()
        return count

    count, seconds = _best(p.repeat, run, time.process_time)
    return Row("decode (1 core)", count, seconds, "cpu", _mbytes(p.corpus))


# --- several cores ---------------------------------------------------------------------------


def decode_parallel(p: Params) -> Row:
    """Fetch in this process, decode batches on `workers` processes (papers come back pickled)."""
    from concurrent.futures import ProcessPoolExecutor

    from tasks.decode import decode_records
    from tasks.fetch import batched, read_records

    workers = p.workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(abs, range(workers)))  # started before the clock

        def run() -> int:
            count = 0
            batches = batched(read_records([p.corpus]), p.batch_size)
            for papers, rejections in pool.map(decode_records, batches):
                count += len(papers) + len(rejections)
            return count

        count, seconds = _best(p.repeat, run, time.perf_counter)
    return Row(f"decode ({workers} processes)", count, seconds, "wall", _mbytes(p.corpus))


def pipeline_null(p: Params) -> Row:
    """The whole pipeline into the null sink (no socket), enrichment from the warm cache."""
    from benchmarks.sink import SinkLogic, null_node_class
    from scholarflow import search_client

    logic = SinkLogic(Corpus(p.seed))
    # Every client the run connects (plain-JSON node class) answers in-process.
    search_client.PlainJsonNode = null_node_class(logic)  # type: ignore[misc]
    row = _pipeline("pipeline → null sink", p, "http://127.0.0.1:9")
    row.detail += f"; sink saw {logic.bulk_items} bulk items"
    return row


def pipeline_http(p: Params) -> Row:
    """The whole pipeline into the HTTP sink (another process on 127.0.0.1)."""
    with _http_sink(p.seed) as url:
        return _pipeline("pipeline → HTTP sink", p, url)


def pipeline_engine(p: Params) -> Row:
    """The whole pipeline into the embedded engine (osmem), DOI cache warmed first."""
    from osmem_server import OsmemServer

    from scholarflow.registry import DoiCache
    from scholarflow.search_client import connect
    from tasks.fetch import read_records

    with OsmemServer.start(japanese=False) as server:
        settings = _settings(server.url)
        cache = DoiCache(connect(settings), settings)
        corpus = Corpus(p.seed)
        dois = {_doi(r.payload) for r in read_records([p.corpus]) if r.payload}
        entries = [e for d in dois if d and (e := corpus.registry_entry(d))]
        for start in range(0, len(entries), 500):
            cache.import_entries(entries[start : start + 500])
        return _pipeline("pipeline → embedded engine", p, server.url, repeat=1)


def prefect_overhead(p: Params) -> Row:
    """The ingest flow (a task run per batch and stage) against the same run as plain calls.

    Both go to the HTTP sink; a small flow run first pays Prefect's one-off costs (the
    temporary API server's first answers, the flow's registration), which a long-lived server
    has paid long before an ingest starts.
    """
    from prefect.testing.utilities import prefect_test_harness

    from flows.ingest import ingest, run_ingest
    from scholarflow.settings import get_settings

    with _http_sink(p.seed) as url, prefect_test_harness(server_startup_timeout=120):
        settings = _settings(url)
        os.environ.update(_environment(settings))
        get_settings.cache_clear()
        ingest([str(p.warmup or p.corpus)], p.batch_size, full=True)
        plain = prefect = float("inf")
        for _ in range(p.repeat):
            started = time.perf_counter()
            run_ingest(settings, [str(p.corpus)], p.batch_size, full=True)  # plain calls
            plain = min(plain, time.perf_counter() - started)
            started = time.perf_counter()
            count = ingest([str(p.corpus)], p.batch_size, full=True)["records_read"]
            prefect = min(prefect, time.perf_counter() - started)
    overhead = (prefect - plain) / plain * 100
    return Row(
        "pipeline through Prefect",
        count,
        prefect,
        "wall",
        _mbytes(p.corpus),
        detail=f"plain {p.records / plain:,.0f} rec/s; Prefect overhead {overhead:.1f}%",
    )


# --- helpers ---------------------------------------------------------------------------------


def _pipeline(name: str, p: Params, url: str, repeat: int | None = None) -> Row:
    """The ingest run outside a flow (plain calls), best of `repeat`."""
    from flows.ingest import run_ingest

    logging.getLogger("flows.ingest").setLevel(logging.ERROR)  # no per-reason lines
    settings = _settings(url)
    best = float("inf")
    summary = None
    for _ in range(repeat or p.repeat):
        started = time.perf_counter()
        summary = run_ingest(settings, [str(p.corpus)], p.batch_size, full=True)
        best = min(best, time.perf_counter() - started)
    assert summary is not None
    data = summary.as_dict()
    detail = (
        f"indexed {data['indexed']}, merged {data['duplicates_merged']}, "
        f"unchanged {data['unchanged']}, rejected {data['rejected']}"
    )
    return Row(name, summary.records_read, best, "wall", _mbytes(p.corpus), detail=detail)


def _settings(url: str) -> Any:
    from scholarflow.settings import DoiLookup, Settings

    return Settings(
        _env_file=None,
        es_url=url,
        es_plain_json=True,
        doi_lookup=DoiLookup.CACHE_ONLY,
        home=Path(os.environ.get("SCHOLARFLOW_BENCH_HOME", "/tmp/scholarflow-bench")),
    )


def _environment(settings: Any) -> dict[str, str]:
    """The `SCHOLARFLOW_*` variables that make the ingest flow read `settings`."""
    return {
        "SCHOLARFLOW_ES_URL": settings.es_url,
        "SCHOLARFLOW_ES_PLAIN_JSON": "true",
        "SCHOLARFLOW_DOI_LOOKUP": settings.doi_lookup.value,
        "SCHOLARFLOW_HOME": str(settings.home),
    }


def _doi(payload: dict[str, Any]) -> str | None:
    from scholarflow.doi import normalize_doi

    value = payload.get("doi")
    return normalize_doi(value) if isinstance(value, str) else None


class _http_sink:
    """The HTTP sink in its own process (so it does not share this process's interpreter)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink", str(self.seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()  # not EOF on stdin: forked workers hold that pipe open too
        self.process.wait(timeout=30)


CASES: dict[str, Callable[[Params], Row]] = {
    "ceiling": ceiling,
    "baseline": baseline,
    "decode": decode,
    "decode_parallel": decode_parallel,
    "pipeline_null": pipeline_null,
    "pipeline_http": pipeline_http,
    "pipeline_engine": pipeline_engine,
    "prefect": prefect_overhead,
}


def peak_rss_mb() -> float:
    """Peak resident set of this process (a case runs in a process of its own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
