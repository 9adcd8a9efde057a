"""The benchmark cases. Each runs in a process of its own and returns one result row.

Single-core cases time the CPU the process used (`time.process_time`), so other work on the
machine does not skew the ratios between them; cases that use several cores or wait on a
server time the wall clock. Every case reports the best of its repetitions. A case returns
one row, or several keyed by name when they come from one run (the engine cases).

The cases into an engine are in `benchmarks.engines`; what every case shares (parameters, the
result row, best-of timing) is in `benchmarks.measure`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.corpus import Corpus
from benchmarks.engines import pipeline_engine, pipeline_osmem
from benchmarks.formats import decode_formats
from benchmarks.measure import (
    Params,
    Row,
    bench_settings,
    best_of,
    flow_into_sink,
    http_sink,
    lines,
    mbytes,
    prefect_server_cpu,
    timed_ingest,
)
from benchmarks.scaleout import scaleout

# --- single core -----------------------------------------------------------------------------


def ceiling(p: Params) -> Row:
    """orjson: parse the record and its double-encoded copy, serialise the result."""

    def run() -> int:
        count = 0
        for line in lines(p.corpus):
            try:
                record = orjson.loads(line)
                if isinstance(record, dict) and isinstance(record.get("resultStr"), str):
                    record["resultStr"] = orjson.loads(record["resultStr"])
            except orjson.JSONDecodeError:
                pass
            orjson.dumps(record)
            count += 1
        return count

    count, seconds = best_of(p.repeat, run, time.process_time)
    return Row("ceiling", count, seconds, "cpu", mbytes(p.corpus))


def baseline(p: Params) -> Row:
    """The straightforward decoder: the json module and BeautifulSoup for the HTML."""
    from bs4 import BeautifulSoup

    def text(value: Any) -> Any:
        return BeautifulSoup(value, "html.parser").get_text() if isinstance(value, str) else value

    def run() -> int:
        count = 0
        for line in lines(p.corpus):
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

    count, seconds = best_of(p.repeat, run, time.process_time)
    return Row("baseline", count, seconds, "cpu", mbytes(p.corpus))


def decode(p: Params) -> Row:
    """Fetch and decode on one core: raw lines to validated `Paper`s, with the garbage
    collector set as an ingest sets it."""
    from flows.running.heap import load_heap
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

    count, seconds = best_of(p.repeat, run, time.process_time)
    return Row("decode (1 core)", count, seconds, "cpu", mbytes(p.corpus))


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

        count, seconds = best_of(p.repeat, run, time.perf_counter)
    return Row(f"decode ({workers} processes)", count, seconds, "wall", mbytes(p.corpus))


def pipeline_null(p: Params) -> Row:
    """The whole pipeline into the null sink (no socket), enrichment from the warm cache."""
    from benchmarks.sink import SinkLogic, null_node_class
    from scholarflow.engine import client as search_client

    logic = SinkLogic(Corpus(p.seed))
    # Every client the run connects (plain-JSON node class) answers in-process.
    search_client.EngineNode = null_node_class(logic)  # type: ignore[misc]
    row = timed_ingest("pipeline → null sink", p, bench_settings("http://127.0.0.1:9"))
    row.detail += f"; sink saw {logic.bulk_items} bulk items"
    return row


def pipeline_http(p: Params) -> Row:
    """The whole pipeline into the HTTP sink (another process on 127.0.0.1)."""
    with http_sink(p.seed) as sink:
        return timed_ingest("pipeline → HTTP sink", p, bench_settings(sink.url))


def prefect_overhead(p: Params) -> Row:
    """The ingest flow (a task run per batch and stage) against the same run as plain calls.

    Both go to the HTTP sink; a small flow run first pays Prefect's one-off costs (the
    temporary API server's first answers, the flow's registration), which a long-lived server
    has paid long before an ingest starts. Beside the wall clock, the CPU each run cost this
    process and the Prefect server (another process): on shared cores the CPU overhead is the
    steadier figure.
    """
    from flows.ingest import ingest, run_ingest

    with flow_into_sink(p.seed) as (settings, _sink):
        server = prefect_server_cpu()
        ingest([str(p.warmup or p.corpus)], p.batch_size, full=True)
        plain = prefect = float("inf")
        cpu: dict[str, float] = {}
        for _ in range(p.repeat):
            for name, run in (
                ("plain", lambda: run_ingest(settings, [str(p.corpus)], p.batch_size, full=True)),
                ("flow", lambda: ingest([str(p.corpus)], p.batch_size, full=True)),
            ):
                started, own, served = time.perf_counter(), time.process_time(), server()
                result = run()
                seconds = time.perf_counter() - started
                used = time.process_time() - own + server() - served
                cpu[name] = round(min(cpu.get(name, float("inf")), used), 2)
                if name == "plain":
                    plain = min(plain, seconds)
                else:
                    prefect = min(prefect, seconds)
                    count = result["records_read"]
    overhead = (prefect - plain) / plain * 100
    by_cpu = (cpu["flow"] - cpu["plain"]) / cpu["plain"] * 100
    return Row(
        "pipeline through Prefect",
        count,
        prefect,
        "wall",
        mbytes(p.corpus),
        detail=(
            f"plain {p.records / plain:,.0f} rec/s; CPU s (ours and the Prefect server's) plain "
            f"{cpu['plain']:.1f}, flow {cpu['flow']:.1f}: {by_cpu:.1f}% more; "
            f"Prefect overhead {overhead:.1f}%"
        ),
        cpu=cpu,
    )


CASES: dict[str, Callable[[Params], Row | dict[str, Row]]] = {
    "ceiling": ceiling,
    "baseline": baseline,
    "decode": decode,
    "decode_parallel": decode_parallel,
    "decode_formats": decode_formats,
    "pipeline_null": pipeline_null,
    "pipeline_http": pipeline_http,
    "pipeline_engine": pipeline_engine,
    "pipeline_osmem": pipeline_osmem,
    "prefect": prefect_overhead,
    "scaleout": scaleout,
}


def peak_rss_mb() -> float:
    """Peak resident set of this process (a case runs in a process of its own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
