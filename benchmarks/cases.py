"""The benchmark cases. Each runs in a process of its own and returns one result row.

Single-core cases time the CPU the process used (`time.process_time`), so other work on the
machine does not skew the ratios between them; cases that use several cores or wait on a
server time the wall clock. Every case reports the best of its repetitions. A case returns
one row, or several keyed by name when they come from one run (the engine cases).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks.corpus import Corpus

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from scholarflow.engine import EngineKind, EngineState
    from scholarflow.settings import Settings


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
    engine: str = ""  # the engine the row was measured on ("" for no engine)
    # CPU seconds during the timed run, into an engine: client, engine, others (the machine's
    # other work on the shared cores, which makes a run noisy).
    cpu: dict[str, float] = field(default_factory=dict)

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
    search_client.EngineNode = null_node_class(logic)  # type: ignore[misc]
    row = _pipeline("pipeline → null sink", p, _settings("http://127.0.0.1:9"))
    row.detail += f"; sink saw {logic.bulk_items} bulk items"
    return row


def pipeline_http(p: Params) -> Row:
    """The whole pipeline into the HTTP sink (another process on 127.0.0.1)."""
    with _http_sink(p.seed) as url:
        return _pipeline("pipeline → HTTP sink", p, _settings(url))


def pipeline_engine(p: Params) -> dict[str, Row]:
    """The whole pipeline into the real embedded engine, beside a raw-bulk ceiling into it.

    One engine, started in a home of its own; its cold start is timed too."""
    from scholarflow.engine import EngineKind

    return _into_engine(EngineKind.OPENSEARCH, p, "pipeline_engine", raw=True)


def pipeline_osmem(p: Params) -> dict[str, Row]:
    """The same pipeline into the fallback engine (osmem), the test double it replaced."""
    from scholarflow.engine import EngineKind

    return _into_engine(EngineKind.OSMEM, p, "pipeline_osmem", raw=False)


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


def _pipeline(name: str, p: Params, settings: Settings, repeat: int | None = None) -> Row:
    """The ingest run outside a flow (plain calls), best of `repeat`."""
    from flows.ingest import run_ingest

    logging.getLogger("flows.ingest").setLevel(logging.ERROR)  # no per-reason lines
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


# --- into an engine --------------------------------------------------------------------------

_WARMUP_ALIAS, _RAW_ALIAS = "warmup", "rawbulk"


def _into_engine(kind: EngineKind, p: Params, key: str, *, raw: bool) -> dict[str, Row]:
    """Start an engine of `kind` in a temporary home, time the pipeline into it (and, `raw`, the
    same bulk bodies sent straight to it), stop it.

    Before the clock: the DOI cache is imported, and the pipeline runs once on `p.warmup` (the
    corpus's first records) into an index it then deletes, so the engine's JIT and our first-use
    costs are paid. Each timed run writes into a fresh index made from the live index's templates
    before the clock starts (refresh every 1 s, as the live index has), with no other paper index
    left to merge, and ends with a refresh (the pipeline's own final one; the raw run calls one).
    """
    from scholarflow import search_client
    from scholarflow.engine import EmbeddedEngine
    from scholarflow.indices import ensure_live_index
    from scholarflow.search_client import connect

    capture = _Capture()
    search_client.EngineNode = capture.node_class()  # type: ignore[misc]
    with tempfile.TemporaryDirectory(prefix="scholarflow-bench-engine-") as home:
        engine = EmbeddedEngine(Path(home), kind=kind)
        try:
            started = time.perf_counter()
            state = engine.ensure()
            ensured = time.perf_counter() - started
            settings = _settings(state.url)
            client = connect(settings)
            _first_bulk(client)
            start = time.perf_counter() - started
            _warm_cache(client, settings, p)
            if p.warmup:
                warmup = _settings(state.url, alias=_WARMUP_ALIAS)
                ensure_live_index(client, warmup.alias, warmup.analysis_profile)
                _pipeline("warm-up", replace(p, corpus=p.warmup), warmup, repeat=1)
                client.indices.delete(index=f"{_WARMUP_ALIAS}-*")

            capture.index = ensure_live_index(client, settings.alias, settings.analysis_profile)
            usage = _Usage(state.pid)
            title = "pipeline → " + ("embedded engine" if raw else "osmem (fallback)")
            row = _pipeline(title, p, settings, repeat=1)
            row.cpu = usage.done()
            rows = {key: row}
            if raw:
                client.indices.delete(index=capture.index)
                rows["raw_bulk_engine"] = _raw_bulk(client, settings, capture, p, state.pid)
                detail = f"ensure() on a fresh home {ensured:.1f} s, then a first bulk accepted"
                rows["engine_start"] = Row("engine cold start", 0, start, "wall", 0, detail=detail)
            else:
                row.detail += f"; cold start {start:.1f} s"
            name = _engine_name(state)
            for each in rows.values():
                each.engine = name
            return rows
        finally:
            engine.stop()


def _raw_bulk(
    client: Elasticsearch, settings: Settings, capture: _Capture, p: Params, pid: int
) -> Row:
    """The bulk bodies the pipeline sent, chunked as it chunked them, sent again with the index
    stage's requests in flight into a fresh index from the same templates, then a refresh."""
    from concurrent.futures import ThreadPoolExecutor

    from scholarflow.indices import ensure_live_index
    from tasks.index import BULK_IN_FLIGHT

    assert capture.index is not None
    index = ensure_live_index(client, _RAW_ALIAS, settings.analysis_profile)
    old, new = b'"_index":"%s"' % capture.index.encode(), b'"_index":"%s"' % index.encode()
    bodies = [body.replace(old, new) for body in capture.bodies]
    size = sum(map(len, bodies))

    def send(body: bytes) -> int:
        answer = client.bulk(operations=body)
        if answer["errors"]:
            raise RuntimeError(f"the engine refused raw bulk items: {answer['items'][:1]}")
        return len(answer["items"])

    usage = _Usage(pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(BULK_IN_FLIGHT) as pool:
        documents = sum(pool.map(send, bodies))
    client.indices.refresh(index=index)
    seconds = time.perf_counter() - started
    cpu = usage.done()
    detail = (
        f"{documents} documents, {size / 1e6:.1f} MB in {len(bodies)} requests, "
        f"{BULK_IN_FLIGHT} in flight"
    )
    name = "raw bulk → embedded engine"
    return Row(name, p.records, seconds, "wall", _mbytes(p.corpus), detail=detail, cpu=cpu)


class _Capture:
    """The bulk bodies the index stage sends to `index` (None: capture nothing)."""

    def __init__(self) -> None:
        self.index: str | None = None
        self.bodies: list[bytes] = []

    def node_class(self) -> type:
        from scholarflow.transport import EngineNode

        capture = self

        class CapturingNode(EngineNode):
            def perform_request(
                self,
                method: str,
                target: str,
                body: bytes | None = None,
                headers: Any = None,
                **kwargs: Any,
            ) -> Any:
                if capture.index and body and target.partition("?")[0].endswith("/_bulk"):
                    action = body[: body.find(b"\n")]
                    if b'"_index":"%s"' % capture.index.encode() in action:
                        capture.bodies.append(body)
                return super().perform_request(method, target, body, headers, **kwargs)

        return CapturingNode


class _Usage:
    """CPU seconds since made: this process's (every thread), the engine's, and the rest of the
    machine's."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.client, self.engine, self.machine = time.process_time(), _cpu(pid), _busy()

    def done(self) -> dict[str, float]:
        client = time.process_time() - self.client
        engine = _cpu(self.pid) - self.engine
        others = max(0.0, _busy() - self.machine - client - engine)
        return {"client": round(client, 2), "engine": round(engine, 2), "others": round(others, 2)}


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process, every thread included (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy() -> float:
    """CPU seconds the whole machine has spent not idle since it booted (from /proc/stat)."""
    # user nice system idle iowait irq softirq steal (guest time is counted in user already)
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _first_bulk(client: Elasticsearch) -> None:
    """A one-document bulk into a new index: the engine takes writes (then the index goes)."""
    answer = client.bulk(operations=[{"index": {"_index": "bench-start"}}, {"ready": True}])
    if answer["errors"]:
        raise RuntimeError(f"the engine refused the first bulk: {answer['items']}")
    client.indices.delete(index="bench-start")


def _engine_name(state: EngineState) -> str:
    """`opensearch 2.19.6 (Lucene 9.12.3)`, or the fallback's name and version."""
    name = f"{state.kind} {state.version}".strip()
    return f"{name} (Lucene {state.lucene})" if state.lucene else name


def _warm_cache(client: Elasticsearch, settings: Settings, p: Params) -> None:
    """The corpus's DOIs imported into the DOI cache, so enrichment never asks a registry."""
    from concurrent.futures import ThreadPoolExecutor

    from scholarflow.registry import DoiCache
    from tasks.fetch import read_records

    cache = DoiCache(client, settings)
    cache.ensure()
    corpus = Corpus(p.seed)
    dois = {_doi(r.payload) for r in read_records([p.corpus]) if r.payload}
    entries = [e for d in dois if d and (e := corpus.registry_entry(d))]
    chunks = [entries[start : start + 500] for start in range(0, len(entries), 500)]
    with ThreadPoolExecutor(4) as pool:  # each chunk waits for a refresh: let the waits overlap
        list(pool.map(cache.import_entries, chunks))


def _settings(url: str, **overrides: Any) -> Settings:
    from scholarflow.settings import DoiLookup, Settings

    return Settings(
        _env_file=None,
        es_url=url,
        doi_lookup=DoiLookup.CACHE_ONLY,
        home=Path(os.environ.get("SCHOLARFLOW_BENCH_HOME", "/tmp/scholarflow-bench")),
        **overrides,
    )


def _environment(settings: Any) -> dict[str, str]:
    """The `SCHOLARFLOW_*` variables that make the ingest flow read `settings`."""
    return {
        "SCHOLARFLOW_ES_URL": settings.es_url,
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


CASES: dict[str, Callable[[Params], Row | dict[str, Row]]] = {
    "ceiling": ceiling,
    "baseline": baseline,
    "decode": decode,
    "decode_parallel": decode_parallel,
    "pipeline_null": pipeline_null,
    "pipeline_http": pipeline_http,
    "pipeline_engine": pipeline_engine,
    "pipeline_osmem": pipeline_osmem,
    "prefect": prefect_overhead,
}


def peak_rss_mb() -> float:
    """Peak resident set of this process (a case runs in a process of its own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
