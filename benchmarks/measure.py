"""What the benchmark cases share: their parameters, their result row, best-of timing, and the
ingest run they time into a sink or an engine."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    # Into the real engine: what its node statistics say it did during the timed run (documents
    # indexed, gets, refreshes, merges, and the seconds of each).
    engine_work: dict[str, float] = field(default_factory=dict)

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


def lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from handle


def best_of(repeat: int, run: Callable[[], int], clock: Callable[[], float]) -> tuple[int, float]:
    """The fastest of `repeat` runs (the one the machine's other work disturbed least)."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        started = clock()
        count = run()
        best = min(best, clock() - started)
    return count, best


def mbytes(path: Path) -> float:
    return path.stat().st_size / 1e6


def timed_ingest(name: str, p: Params, settings: Settings, repeat: int | None = None) -> Row:
    """The ingest run outside a flow (plain calls), best of `repeat`."""
    from flows.ingest import run_ingest

    logging.getLogger("flows.ingest").setLevel(logging.ERROR)  # no per-reason lines
    best, cpu = float("inf"), 0.0
    summary = None
    for _ in range(repeat or p.repeat):
        started, began = time.perf_counter(), time.process_time()
        summary = run_ingest(settings, [str(p.corpus)], p.batch_size, full=True)
        if (seconds := time.perf_counter() - started) < best:
            best, cpu = seconds, time.process_time() - began
    assert summary is not None
    data = summary.as_dict()
    detail = (
        f"indexed {data['indexed']}, merged {data['duplicates_merged']}, "
        f"unchanged {data['unchanged']}, rejected {data['rejected']}"
    )
    row = Row(name, summary.records_read, best, "wall", mbytes(p.corpus), detail=detail)
    row.cpu = {"client": round(cpu, 3)}  # this process, every thread, in the fastest run
    return row


def bench_settings(url: str, **overrides: Any) -> Settings:
    from scholarflow.settings import DoiLookup, Settings

    return Settings(
        _env_file=None,
        es_url=url,
        doi_lookup=DoiLookup.CACHE_ONLY,
        home=Path(os.environ.get("SCHOLARFLOW_BENCH_HOME", "/tmp/scholarflow-bench")),
        **overrides,
    )


def flow_environment(settings: Any) -> dict[str, str]:
    """The `SCHOLARFLOW_*` variables that make the ingest flow read `settings`."""
    return {
        "SCHOLARFLOW_ES_URL": settings.es_url,
        "SCHOLARFLOW_DOI_LOOKUP": settings.doi_lookup.value,
        "SCHOLARFLOW_HOME": str(settings.home),
    }


class http_sink:
    """The HTTP sink in its own process (so it does not share this process's interpreter)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.url = ""

    def __enter__(self) -> http_sink:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink", str(self.seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        return self

    def cpu_seconds(self) -> float:
        """CPU the sink has used so far (user + system), from /proc."""
        return _process_cpu(self.process.pid)

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()  # not EOF on stdin: forked workers hold that pipe open too
        self.process.wait(timeout=30)


def prefect_server_cpu() -> Callable[[], float]:
    """The CPU seconds so far of the Prefect API server this process started (the test
    harness's uvicorn child), as a function to call before and after a run."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"uvicorn" in cmdline and b"prefect" in cmdline:
            return lambda: _process_cpu(int(pid))
    return lambda: 0.0


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def flow_into_sink(seed: int) -> Iterator[tuple[Settings, http_sink]]:
    """The ingest flow ready to run against the HTTP sink, under a temporary Prefect server:
    the flow reads its settings from the environment, as a deployment's run does."""
    from prefect.testing.utilities import prefect_test_harness

    from scholarflow.settings import get_settings

    with http_sink(seed) as sink, prefect_test_harness(server_startup_timeout=120):
        settings = bench_settings(sink.url)
        os.environ.update(flow_environment(settings))
        get_settings.cache_clear()
        yield settings, sink
