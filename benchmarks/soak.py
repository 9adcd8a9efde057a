"""A soak on the embedded engine: one `scholarflow ingest` of a large generated corpus, as an
operator runs it, while searches arrive at a steady rate against the same engine.

    python -m benchmarks.soak [--records 200000] [--rate 5] [--engine opensearch|osmem] [--json]
    python -m benchmarks.soak --nodes 3 [--records 200000]     # a local cluster, a node killed

With `--nodes N` (N > 1) the engine is a local cluster of N nodes (`engine start --nodes N`);
searches go to every node's address, and half-way through the load (by the papers indexed) one
node holding primaries is killed (SIGKILL) and started again `--down` seconds later. Failed
searches are counted before and after the cluster is yellow again (the target after: 0), and
the papers the alias holds once the cluster is green again must be exactly the ones the run
indexed.

It starts the embedded engine (the real OpenSearch unless `--engine osmem` asks for the in-memory
fallback; never silently the other one) in a fresh temporary home, generates the corpus there,
runs the ingest in a subprocess, and sends mixed Chinese and English searches from a thread from
the moment the alias exists until the ingest ends. It prints records/s, search latency
p50/p95/p99 and the failed searches, the peak RSS of the ingest process and of the engine, and
the run's accounting; it exits non-zero unless the ingest succeeded, every record is accounted
for and no search failed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import Corpus
from benchmarks.soak_cluster import NodeFault

SCHOLARFLOW = Path(sys.executable).parent / "scholarflow"
# What a reader types: English words, Chinese words (bigrams), a mixed pair, a short prefix.
QUERIES = (
    "immune response",
    "免疫",
    "gene expression",
    "肿瘤 细胞",
    "insect",
    "中国 研究",
    "climate change",
    "植物",
    "protein",
    "临床 分析",
)


@dataclass
class SearchLoad:
    """Searches at `rate` per second on a fixed schedule (a slow answer does not slow the
    schedule down: the next search starts when it is due, or at once when overdue)."""

    url: str
    alias: str
    rate: float
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    failed_at: list[float] = field(default_factory=list)  # time.monotonic() of each failure
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from scholarflow.search.service import search_papers
        from scholarflow.settings import Settings

        settings = Settings(_env_file=None, es_url=self.url, alias=self.alias)
        self._wait_for_alias(settings)
        start = time.monotonic()
        sent = 0
        while not self.stop.is_set():
            due = start + sent / self.rate
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break
            query = QUERIES[sent % len(QUERIES)]
            sent += 1
            began = time.monotonic()
            try:
                search_papers(settings, query, size=10)
            except Exception as exc:  # every failure is counted and shown, none stops the load
                self.failures.append(f"{query!r}: {type(exc).__name__}: {exc}"[:300])
                self.failed_at.append(time.monotonic())
            else:
                self.latencies.append(time.monotonic() - began)

    def _wait_for_alias(self, settings: Any) -> None:
        from scholarflow.engine.client import connect
        from scholarflow.stores.indices import live_index

        client = connect(settings)
        while not self.stop.wait(0.5):
            if live_index(client, self.alias):
                return


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), while it runs."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCHOLARFLOW), *args], env=env, capture_output=True, text=True, check=False
    )


def soak(
    records: int,
    rate: float,
    keep: bool,
    engine: str = "opensearch",
    nodes: int = 1,
    down: float = 30.0,
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="scholarflow-soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHOLARFLOW_", "PREFECT_"))}
    env |= {
        "SCHOLARFLOW_HOME": str(home / "home"),
        "SCHOLARFLOW_ENGINE": engine,  # the engine asked for or a failure, never a silent fallback
        "SCHOLARFLOW_DOI_LOOKUP": "off",  # the engine under load, not a registry's rate limit
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "SCHOLARFLOW_ENGINE_NODES": str(nodes),
        # The run's temporary Prefect server starts beside the engine's JVMs: on two busy
        # cores that takes longer than Prefect's default 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    corpus = home / "corpus.jsonl"
    began = time.monotonic()
    stats = Corpus().write(corpus, records)
    generated = time.monotonic() - began
    started = cli("engine", "start", env=env)
    if started.returncode:
        raise SystemExit(f"the engine did not start: {started.stderr.strip()}")
    state = json.loads(cli("engine", "status", "--json", env=env).stdout)
    urls = [node["url"] for node in state.get("nodes") or []] or [state["url"]]
    load = SearchLoad(",".join(urls), "papers", rate)
    fault = NodeFault(home / "home", urls, records // 2, down) if nodes > 1 else None
    searcher = threading.Thread(target=load.run, name="searches", daemon=True)
    try:
        searcher.start()
        began = time.monotonic()
        ingest = subprocess.Popen(
            [str(SCHOLARFLOW), "ingest", "--json", str(corpus)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ingest_peak = 0.0
        sampler = threading.Event()

        def sample() -> None:
            nonlocal ingest_peak
            while not sampler.wait(1.0):
                ingest_peak = max(ingest_peak, peak_rss_mb(ingest.pid) or 0.0)

        threading.Thread(target=sample, daemon=True).start()
        if fault:
            threading.Thread(target=fault.run, args=(ingest,), daemon=True).start()
        out, err = ingest.communicate()
        seconds = time.monotonic() - began
        sampler.set()
        load.stop.set()
        searcher.join()
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        engine_peak = peak_rss_mb(state["pid"])
        cluster = fault.finish(load) if fault else None

    finally:
        load.stop.set()
        cli("engine", "stop", env=env)
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    summary = json.loads(out) if ingest.returncode == 0 and out.strip() else None
    return {
        "records": stats.records,
        "corpus_mb": round(stats.bytes / 1e6, 1),
        "corpus_seconds": round(generated, 1),
        "engine": f"{state['kind']} {state['version']}"
        + (f" (Lucene {state['lucene']})" if state.get("lucene") else " (in memory, not Lucene)"),
        "exit_code": ingest.returncode,
        "stderr": err.strip()[-2000:],
        "ingest_seconds": round(seconds, 1),
        "records_per_second": round(stats.records / seconds) if seconds else None,
        "searches": len(load.latencies) + len(load.failures),
        "failed_searches": len(load.failures),
        "first_failures": load.failures[:5],
        "latency_ms": {
            f"p{q}": round(1000 * value, 1) if (value := percentile(load.latencies, q)) else None
            for q in (50, 95, 99)
        },
        # VmHWM sampled each second; the children's rusage catches a peak between samples.
        "peak_rss_mb": {
            "scholarflow": round(max(ingest_peak, children_peak)),
            "engine": round(engine_peak) if engine_peak else None,
        },
        "accounting": _accounting(summary, stats.lines),
        "cluster": cluster,
        "home": str(home) if keep else None,
    }


def _accounting(summary: dict[str, Any] | None, lines: int) -> dict[str, Any] | None:
    if summary is None:
        return None
    keys = ("records_read", "indexed", "duplicates_merged", "unchanged", "rejected")
    parts = {key: summary[key] for key in keys}
    parts["dead_lettered"] = summary["dead_lettered"]
    whole = summary["records_read"] == lines == sum(parts[key] for key in keys[1:])
    parts["accounted"] = whole and summary["dead_lettered"] == summary["rejected"]
    return parts


def main(argv: list[str] | None = None) -> None:
    """Ingest a generated corpus into the embedded engine under a steady search load."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=main.__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=5.0, help="searches per second")
    parser.add_argument("--engine", choices=("opensearch", "osmem"), default="opensearch")
    parser.add_argument("--nodes", type=int, default=1, help="a local cluster of N nodes")
    parser.add_argument("--down", type=float, default=30.0, help="seconds a killed node stays down")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = soak(args.records, args.rate, args.keep, args.engine, args.nodes, args.down)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    accounting = result["accounting"]
    ok = result["exit_code"] == 0 and accounting and accounting["accounted"]
    cluster = result["cluster"]
    if cluster is None:
        failed = result["failed_searches"]
    else:
        failed = cluster.get("failed_searches_after_yellow", 0)
        ok = ok and cluster["killed"] and cluster["papers"] == accounting["indexed"]
    if not ok or failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
