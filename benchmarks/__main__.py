"""`python -m benchmarks`: write the corpora, run every case in a fresh process, print the tables.

python -m benchmarks             # 100k records (osmem: 10k), peak RSS at 100k and 1M
python -m benchmarks --quick     # scaled down: a few minutes (engines: 2,000)
python -m benchmarks --json      # one JSON object on stdout instead of the tables
python -m benchmarks --profile decode   # one case under a sampling profiler instead
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from benchmarks import cases
from benchmarks.corpus import Corpus
from benchmarks.report import print_tables, summary

OUT = Path(__file__).resolve().parent / "out"
FULL_RECORDS = 100_000
# Into the engines, quick mode writes two batches (eight bulk requests, the second batch
# prepared while the first is indexed), so the ratio means something; the two engine cases then
# take about 35 s of a quick run, half of it the engines' start, DOI cache and warm-up.
QUICK_ENGINE_RECORDS = 2_000
# Before the clock the engine indexes a warm-up corpus: at least this many records, so the JVM
# has compiled the indexing paths (with a 200-record warm-up the engine spent about 0.85 ms of
# CPU a record more on the same pipeline run first than run again, the compiler's work).
ENGINE_WARMUP_RECORDS = 2_000
# osmem, the in-memory fallback, slows as it grows (18 ms of CPU a record at 10k): at full size
# it takes a tenth of the corpus.
OSMEM_SHARE = 10


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    scale = 0.05 if args.quick else 1.0
    records = args.records or int(FULL_RECORDS * scale)
    scale = records / FULL_RECORDS
    started = time.perf_counter()
    corpus = Corpus(args.seed)
    # Peak RSS is compared between two corpora 10× apart, each many batches long (a run holds
    # at most stage_workers + 1 batches however long it is): 100k and 1M, or 2k and 20k
    # in batches of 250 when quick.
    rss = (2_000, 20_000) if args.quick and not args.records else (records, records * 10)
    engine = QUICK_ENGINE_RECORDS if args.quick and not args.records else records
    osmem = engine if args.quick and not args.records else engine // OSMEM_SHARE
    sizes = {
        "main": records,
        "small": max(1, records // 10),
        "engine": max(1, engine),
        # the engine corpus's first records (all of them, when it is small)
        "engine_warmup": max(1, min(engine, max(engine // 10, ENGINE_WARMUP_RECORDS))),
        "osmem": max(1, osmem),
        "osmem_warmup": max(1, osmem // 10),
        "rss_small": max(1, rss[0]),
        "rss_large": max(1, rss[1]),
    }
    paths = {name: _write(corpus, args.out, n, args.seed) for name, n in sizes.items()}
    rss_batch = max(1, min(cases.Params.batch_size, rss[0] // 10))
    base = cases.Params(paths["main"], records, args.seed, repeat=1 if args.quick else 3)
    # Worker processes start inside each timed run: quick mode's 5,000 records would measure
    # mostly their start, so it scales out over the 20k corpus instead.
    quick_sizes = args.quick and not args.records
    scaleout = _sized(base, paths["rss_large"], rss[1]) if quick_sizes else base
    engine_params = replace(
        _sized(base, paths["engine"], sizes["engine"]), warmup=paths["engine_warmup"]
    )
    osmem_params = replace(
        _sized(base, paths["osmem"], sizes["osmem"]), warmup=paths["osmem_warmup"]
    )
    plan: list[tuple[str, str, cases.Params]] = [
        ("ceiling", "ceiling", base),
        ("baseline", "baseline", replace(base, repeat=1)),
        ("decode", "decode", base),
        ("decode_parallel", "decode_parallel", base),
        ("decode_formats", "decode_formats", base),
        ("pipeline_null", "pipeline_null", base),
        ("pipeline_http", "pipeline_http", base),
        ("pipeline_engine", "pipeline_engine", engine_params),
        ("pipeline_osmem", "pipeline_osmem", osmem_params),
        ("prefect", "prefect", replace(base, repeat=2, warmup=paths["small"])),
        ("scaleout", "scaleout", replace(scaleout, repeat=1, warmup=paths["engine_warmup"])),
        ("rss_small", "pipeline_null", _rss(base, paths["rss_small"], rss[0], rss_batch)),
        ("rss_main", "pipeline_null", _rss(base, paths["rss_large"], rss[1], rss_batch)),
    ]
    if args.profile:
        return _profile(args.profile, base)
    wanted = set(args.cases.split(",")) if args.cases else None
    rows: dict[str, dict[str, Any]] = {}
    for key, case, params in plan:
        if wanted and key not in wanted:
            continue
        begun = time.perf_counter()
        measured = _run_isolated(key, case, params)
        rows.update(measured)
        if not args.json:
            for name, row in measured.items():
                figure = f"{row['rps']:,.0f} records/s" if row["records"] else f"{row['seconds']} s"
                print(f"  {name}: {figure}", file=sys.stderr)
            print(f"    (the {key} case took {time.perf_counter() - begun:.1f} s)", file=sys.stderr)
    result = summary(rows, scale=scale, sizes=sizes, seconds=time.perf_counter() - started)
    if args.json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        print_tables(rows, result)
    return 0


def _sized(base: cases.Params, corpus: Path, records: int) -> cases.Params:
    return replace(base, corpus=corpus, records=records, repeat=1)


def _rss(base: cases.Params, corpus: Path, records: int, batch_size: int) -> cases.Params:
    return replace(base, corpus=corpus, records=max(1, records), repeat=1, batch_size=batch_size)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scale the corpus down (~1.5 min)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--records", type=int, help="records in the main corpus")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases", help="comma-separated subset of the cases")
    parser.add_argument("--out", type=Path, default=OUT, help="where the corpora are written")
    parser.add_argument("--profile", choices=sorted(cases.CASES), help="profile one case")
    return parser


def _write(corpus: Corpus, folder: Path, count: int, seed: int) -> Path:
    path = folder / f"corpus-{seed}-{count}.jsonl"
    if not path.exists():  # deterministic: a corpus written once is the same corpus
        partial = path.with_suffix(".partial")
        corpus.write(partial, count)
        partial.replace(path)
    return path


def _run_isolated(key: str, case: str, params: cases.Params) -> dict[str, dict[str, Any]]:
    """Run one case in a forked process: its peak RSS is its own, and so are its threads.
    Returns its rows by name (`key` for a case of one row)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(key, case, params, send))
    process.start()
    send.close()
    try:
        message = receive.recv()
    except EOFError:
        message = {"error": f"the {case} case died (exit code {process.exitcode})"}
    process.join()
    if "error" in message:
        raise SystemExit(message["error"])
    return message


def _child(key: str, case: str, params: cases.Params, send: Connection) -> None:
    try:
        rows = _keyed(key, cases.CASES[case](params))
        for row in rows.values():
            row.peak_rss_mb = cases.peak_rss_mb()
        send.send({name: row.as_dict() for name, row in rows.items()})
    except BaseException as exc:
        send.send({"error": f"{case}: {type(exc).__name__}: {exc}"})
        raise
    finally:
        send.close()


def _profile(case: str, params: cases.Params) -> int:
    """One run of `case` under a sampling profiler (every thread of this process; worker
    processes need `py-spy record --subprocesses`): the call tree down to the lines that cost
    more than 1% of the run."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    rows = _keyed(case, cases.CASES[case](replace(params, repeat=1)))
    profiler.stop()
    for row in rows.values():
        print(f"{row.case}: {row.rps:,.0f} records/s (profiled)", file=sys.stderr)
    tree = profiler.output_text(show_all=False, color=False, time="percent_of_total")
    print(tree, file=sys.stderr)
    return 0


def _keyed(key: str, result: cases.Row | dict[str, cases.Row]) -> dict[str, cases.Row]:
    return result if isinstance(result, dict) else {key: result}


if __name__ == "__main__":
    sys.exit(main())
