"""The cases into a running engine: the embedded OpenSearch, with a raw-bulk ceiling beside the
pipeline, and the fallback osmem. Each starts its own engine in a temporary home."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks.corpus import Corpus
from benchmarks.measure import Params, Row, bench_settings, mbytes, timed_ingest

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from scholarflow.engine import EngineKind, EngineState
    from scholarflow.settings import Settings


def pipeline_engine(p: Params) -> dict[str, Row]:
    """The whole pipeline into the real embedded engine, beside a raw-bulk ceiling into it.

    One engine, started in a home of its own; its cold start is timed too."""
    from scholarflow.engine import EngineKind

    return _into_engine(EngineKind.OPENSEARCH, p, "pipeline_engine", raw=True)


def pipeline_osmem(p: Params) -> dict[str, Row]:
    """The same pipeline into the fallback engine (osmem), the test double it replaced."""
    from scholarflow.engine import EngineKind

    return _into_engine(EngineKind.OSMEM, p, "pipeline_osmem", raw=False)


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
    from scholarflow.engine import EmbeddedEngine
    from scholarflow.engine import client as engine_client
    from scholarflow.engine.client import connect
    from scholarflow.stores.indices import ensure_live_index

    capture = _Capture()
    engine_client.EngineNode = capture.node_class()  # type: ignore[misc]
    with tempfile.TemporaryDirectory(prefix="scholarflow-bench-engine-") as home:
        engine = EmbeddedEngine(Path(home), kind=kind)
        try:
            started = time.perf_counter()
            state = engine.ensure()
            ensured = time.perf_counter() - started
            settings = bench_settings(state.url)
            client = connect(settings)
            _first_bulk(client)
            start = time.perf_counter() - started
            _warm_cache(client, settings, p)
            if p.warmup:
                warmup = bench_settings(state.url, alias=_WARMUP_ALIAS)
                ensure_live_index(client, warmup.alias, warmup.analysis_profile)
                timed_ingest("warm-up", replace(p, corpus=p.warmup), warmup, repeat=1)
                client.indices.delete(index=f"{_WARMUP_ALIAS}-*")

            capture.index = ensure_live_index(client, settings.alias, settings.analysis_profile)
            usage = _Usage(state.pid, client if raw else None)
            title = "pipeline → " + ("embedded engine" if raw else "osmem (fallback)")
            row = timed_ingest(title, p, settings, repeat=1)
            row.cpu = usage.done()
            row.engine_work = usage.work
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
    stage's requests in flight into a fresh index from the same templates, then a refresh. The
    index settings the pipeline changed on its index (the refresh interval of a big load) are
    changed on this one at the same point of the stream."""
    from concurrent.futures import ThreadPoolExecutor

    from scholarflow.stores.bulk import BULK_FILTER, BULK_IN_FLIGHT
    from scholarflow.stores.indices import ensure_live_index

    assert capture.index is not None
    index = ensure_live_index(client, _RAW_ALIAS, settings.analysis_profile)
    old, new = b'"_index":"%s"' % capture.index.encode(), b'"_index":"%s"' % index.encode()
    bodies = [body.replace(old, new) for body in capture.bodies]
    size = sum(map(len, bodies))

    def send(body: bytes) -> int:
        answer = client.bulk(operations=body, filter_path=BULK_FILTER)  # as the pipeline asks
        if answer["errors"]:
            raise RuntimeError(f"the engine refused raw bulk items: {answer['items'][:1]}")
        return len(answer["items"])

    usage = _Usage(pid, client)
    started = time.perf_counter()
    documents, sent = 0, 0
    with ThreadPoolExecutor(BULK_IN_FLIGHT) as pool:
        for position, changed in [*capture.settings, (len(bodies), None)]:
            documents += sum(pool.map(send, bodies[sent:position]))
            sent = position
            if changed is not None:
                client.indices.put_settings(index=index, settings=orjson.loads(changed))
    client.indices.refresh(index=index)
    seconds = time.perf_counter() - started
    cpu = usage.done()
    detail = (
        f"{documents} documents, {size / 1e6:.1f} MB in {len(bodies)} requests, "
        f"{BULK_IN_FLIGHT} in flight"
    )
    if capture.settings:
        changes = "; ".join(f"{c.decode()} after {n} requests" for n, c in capture.settings)
        detail += f"; index settings as the pipeline set them: {changes}"
    name = "raw bulk → embedded engine"
    row = Row(name, p.records, seconds, "wall", mbytes(p.corpus), detail=detail, cpu=cpu)
    row.engine_work = usage.work
    return row


class _Capture:
    """The bulk bodies the index stage sends to `index` (None: capture nothing), and the index
    settings it changes, each with how many bodies were sent before."""

    def __init__(self) -> None:
        self.index: str | None = None
        self.bodies: list[bytes] = []
        self.settings: list[tuple[int, bytes]] = []

    def node_class(self) -> type:
        from scholarflow.engine.transport import EngineNode

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
                path = target.partition("?")[0]
                if capture.index and body and path.endswith("/_bulk"):
                    action = body[: body.find(b"\n")]
                    if b'"_index":"%s"' % capture.index.encode() in action:
                        capture.bodies.append(body)
                elif capture.index and body and path == f"/{capture.index}/_settings":
                    capture.settings.append((len(capture.bodies), body))
                return super().perform_request(method, target, body, headers, **kwargs)

        return CapturingNode


class _Usage:
    """CPU seconds since made: this process's (every thread), the engine's, and the rest of the
    machine's; and, given the engine's client, what the engine did meanwhile (`work`)."""

    def __init__(self, pid: int, client: Elasticsearch | None = None) -> None:
        self.pid, self.engine_client = pid, client
        self.work: dict[str, float] = {}
        self.before = _engine_work(client) if client is not None else {}
        self.client, self.engine, self.machine = time.process_time(), _cpu(pid), _busy()

    def done(self) -> dict[str, float]:
        client = time.process_time() - self.client
        engine = _cpu(self.pid) - self.engine
        others = max(0.0, _busy() - self.machine - client - engine)
        if self.engine_client is not None:
            after = _engine_work(self.engine_client)
            self.work = {k: round(after[k] - self.before.get(k, 0), 2) for k in after}
        return {"client": round(client, 2), "engine": round(engine, 2), "others": round(others, 2)}


# What the node's statistics say it did, every index together: (section, figure) → key.
_WORK = {
    "index_s": ("indexing", "index_time_in_millis"),
    "indexed": ("indexing", "index_total"),
    "get_s": ("get", "time_in_millis"),
    "gets": ("get", "total"),
    "refresh_s": ("refresh", "total_time_in_millis"),
    "refreshes": ("refresh", "total"),
    "merge_s": ("merges", "total_time_in_millis"),
    "merges": ("merges", "total"),
}


def _engine_work(client: Elasticsearch) -> dict[str, float]:
    """The node's counters: documents indexed, gets, refreshes and merges, with the seconds each
    took (summed over the threads that did them, so they may exceed the wall clock)."""
    stats = client.nodes.stats(node_id="_local", metric="indices")
    indices = next(iter(stats["nodes"].values()))["indices"]
    return {
        key: indices[section][figure] / (1000 if key.endswith("_s") else 1)
        for key, (section, figure) in _WORK.items()
    }


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
    """The corpus's DOIs imported into the DOI cache, so enrichment never asks a registry. The
    registry answers are made a chunk at a time (a 100k-record corpus has 2 kB-30 kB answers
    for 75,000 DOIs), a few chunks in flight."""
    from concurrent.futures import ThreadPoolExecutor
    from itertools import islice

    from scholarflow.registry import DoiCache
    from tasks.fetch import read_records

    cache = DoiCache(client, settings)
    cache.ensure()
    corpus = Corpus(p.seed)
    dois = iter(
        sorted({d for r in read_records([p.corpus]) if r.payload and (d := _doi(r.payload))})
    )
    entries = (e for d in dois if (e := corpus.registry_entry(d)))
    with ThreadPoolExecutor(4) as pool:  # each chunk waits for a refresh: let the waits overlap
        while chunks := [chunk for _ in range(4) if (chunk := list(islice(entries, 500)))]:
            list(pool.map(cache.import_entries, chunks))


def _doi(payload: dict[str, Any]) -> str | None:
    from scholarflow.paper.doi import normalize_doi

    value = payload.get("doi")
    return normalize_doi(value) if isinstance(value, str) else None
