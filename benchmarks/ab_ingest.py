"""An ingest's CPU a record, this checkout against others (older commits), interleaved.

    git archive 21d0482 | tar -x -C /tmp/before      # a commit to compare against
    uv run python -m benchmarks.ab_ingest --against /tmp/before --records 10000 --rounds 3

One embedded OpenSearch (this checkout's build) in a temporary home, the generated corpus's DOI
answers imported into its cache; then each run ingests the whole corpus (`--full`, DOI lookups
`cache-only`, as `make demo`) into an index of its own, in a fresh process whose code is either
checkout's (the others run on this one's virtual environment). Runs alternate A, B, …, then
B, …, A, and so on, after one unmeasured warm-up round, so the machine's other work and the
engine's warming up fall on each alike.
Each run reports, over the ingest alone: our process's CPU (every thread), the engine's, and
what the rest of the machine used meanwhile ("others": the noise of a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.corpus import Corpus
from benchmarks.engines import _warm_cache
from benchmarks.measure import Params, bench_settings

REPO = Path(__file__).resolve().parent.parent
# The run, in the checkout under test: only what both old and new checkouts offer. CPU seconds
# from /proc: a process's user + system, and the whole machine's time not idle.
_CHILD = """
import json, os, sys, time
from pathlib import Path
from flows.ingest import run_ingest
from scholarflow.stores.indices import ensure_live_index
from scholarflow.engine.client import connect
from scholarflow.settings import DoiLookup, Settings

TICK = os.sysconf("SC_CLK_TCK")

def _cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK

def _busy():
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK

url, alias, corpus, engine_pid = sys.argv[1:5]
settings = Settings(
    _env_file=None, es_url=url, alias=alias, doi_lookup=DoiLookup.CACHE_ONLY,
    home=Path(os.environ["SCHOLARFLOW_BENCH_HOME"]),
)
ensure_live_index(connect(settings), alias, settings.analysis_profile)
pid = int(engine_pid)
began, engine, machine, wall = time.process_time(), _cpu(pid), _busy(), time.perf_counter()
summary = run_ingest(settings, [corpus], settings.batch_size, full=True)
client = time.process_time() - began
engine = _cpu(pid) - engine
others = max(0.0, _busy() - machine - client - engine)
print(json.dumps({
    "records": summary.records_read, "wall": time.perf_counter() - wall, "client": client,
    "engine": engine, "others": others, "counts": summary.as_dict().get("doi_matching", {}),
}))
"""


def run_once(checkout: Path, url: str, alias: str, corpus: Path, pid: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    answer = subprocess.run(
        [sys.executable, "-c", _CHILD, url, alias, str(corpus), str(pid)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode:
        raise RuntimeError(f"the run in {checkout} failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--against", type=Path, action="append", required=True, help="another checkout"
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from scholarflow.engine import EmbeddedEngine, EngineKind
    from scholarflow.engine.client import connect

    paths = [*(path.resolve() for path in args.against), REPO]
    checkouts = {chr(ord("A") + i): path for i, path in enumerate(paths)}
    with tempfile.TemporaryDirectory(prefix="scholarflow-ab-") as home:
        corpus = Path(home) / "corpus.jsonl"
        Corpus(args.seed).write(corpus, args.records)
        os.environ["SCHOLARFLOW_BENCH_HOME"] = home
        engine = EmbeddedEngine(Path(home) / "engine", kind=EngineKind.OPENSEARCH)
        try:
            state = engine.ensure()
            settings = bench_settings(state.url)
            params = Params(corpus=corpus, records=args.records, seed=args.seed)
            _warm_cache(connect(settings), settings, params)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
            names = list(checkouts)
            for turn in range(args.rounds + 1):  # the first round warms up
                # Each round starts with the next checkout: none always runs first.
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    checkout = checkouts[name]
                    alias = f"ab-{name.lower()}-{turn}"
                    result = run_once(checkout, state.url, alias, corpus, state.pid)
                    connect(settings).indices.delete(index=f"{alias}-*")
                    if turn:
                        runs[name].append(result)
                    print(_line(name, turn, result), flush=True)
            for name, results in runs.items():
                per = [1e6 * r["client"] / r["records"] for r in results]
                engine_per = [1e3 * r["engine"] / r["records"] for r in results]
                print(
                    f"{name} {checkouts[name]}: client CPU {median(per):.0f} µs a record "
                    f"(runs {', '.join(f'{x:.0f}' for x in per)}), engine CPU "
                    f"{median(engine_per):.2f} ms a record; engine {state.kind} {state.version}"
                )
        finally:
            engine.stop()


def _line(name: str, turn: int, r: dict[str, Any]) -> str:
    kind = "warm-up" if turn == 0 else f"run {turn}"
    return (
        f"{name} {kind}: {r['records']} records, {r['wall']:.1f} s, client {r['client']:.2f} s "
        f"({1e6 * r['client'] / r['records']:.0f} µs a record), engine {r['engine']:.2f} s, "
        f"others {r['others']:.2f} s, DOI search {r['counts']}"
    )


if __name__ == "__main__":
    main()
