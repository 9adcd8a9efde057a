"""The `scholarflow` command line.

With `--json`, a command prints exactly one JSON object on stdout and nothing else; logs and
progress go to stderr. Failures an operator can fix print one line and exit non-zero; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from elasticsearch import ApiError, TransportError
from rich.console import Console
from rich.markup import escape

from scholarflow.models import EnrichmentStatus, Stage
from scholarflow.redact import install_log_redaction, redact_text, redact_url
from scholarflow.settings import DoiLookup, Settings, get_settings

if TYPE_CHECKING:
    from scholarflow.engine import EngineState

app = typer.Typer(
    help="Scholarflow: ingest scholarly records into a bilingual search index.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
engine_app = typer.Typer(help="Manage the embedded engine (used when no Elasticsearch URL is set).")
cache_app = typer.Typer(help="The DOI lookup cache.")
deadletter_app = typer.Typer(
    help="Records that could not be indexed: list them, show one, replay them."
)
app.add_typer(engine_app, name="engine")
app.add_typer(cache_app, name="cache")
lock_app = typer.Typer(help="The writer lock: which run may write behind the alias now.")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(lock_app, name="lock")

stderr = Console(stderr=True)
_state = {"debug": False}

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


class ReindexMode(StrEnum):
    COPY = "copy"
    REPLAY = "replay"


REINDEX_MODE_HELP = (
    "copy: copy the live index server-side (mapping changes); "
    "replay: decode and enrich the recorded sources again (decoding changes)."
)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option(help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    # A traceback (`--debug`, or an unexpected error) names the addresses and may quote an
    # engine's answer: it goes out through the same redaction as every error line.
    sys.excepthook = _print_redacted_traceback
    install_log_redaction()
    # The embedded engine says in one line when it falls back or finds data it cannot serve.
    notes = logging.getLogger("scholarflow.engine")
    if not notes.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("note: %(message)s"))
        notes.addHandler(handler)
        notes.propagate = False


def configure_prefect(settings: Settings) -> None:
    """Prefect defaults for a local, offline, quiet run; explicit environment settings win.

    Without `--debug`, Prefect prints nothing on the console (a failed flow run would print its
    traceback there); the command reports the outcome, or the error in one line, itself. The
    run's logs still reach the Prefect API.
    """
    home = Path(os.environ.setdefault("PREFECT_HOME", str(settings.home_dir / "prefect")))
    home.mkdir(parents=True, exist_ok=True)  # its database cannot create the directory
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not _state["debug"]:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _print_redacted_traceback(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    import traceback

    sys.stderr.write(redact_text("".join(traceback.format_exception(kind, exc, tb))))


def _fail(message: str, code: int = 1) -> NoReturn:
    text = escape(redact_text(message))
    stderr.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(action: Callable[[], Any]) -> Any:
    """Run a command body, turning known failures into one line on stderr."""
    from flows.server import ServerStartError
    from scholarflow.deadletter import DeadLetterError
    from scholarflow.engine import EngineStartError, PersistError
    from scholarflow.indices import IndexStateError, ReindexError
    from scholarflow.lock import LockHeld, LockLost
    from scholarflow.models import AccountingError
    from scholarflow.search_client import EngineError, RequestTimeout
    from tasks.fetch import SourceError

    if _state["debug"]:
        return action()
    try:
        return action()
    except (
        SourceError,
        EngineError,
        EngineStartError,
        IndexStateError,
        PersistError,
        DeadLetterError,
        ServerStartError,
        LockHeld,
        LockLost,
    ) as exc:
        _fail(str(exc))
    except ReindexError as exc:
        _fail(f"re-index failed, the alias was not moved: {exc}")
    except AccountingError as exc:
        _fail(f"accounting check failed: {exc}", code=3)
    except ApiError as exc:
        _fail(f"the engine answered {exc.meta.status}: {exc.message}")
    except RequestTimeout as exc:
        _fail(f"the engine did not answer in time: {exc.message}; run the same command again")
    except TransportError as exc:
        _fail(
            f"lost the engine ({exc.message}); nothing is lost: run the same command again "
            "once the engine is back"
        )
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}")


def _checked_client(settings: Settings) -> Any:
    """A client for the configured engine, after one request that proves it answers."""
    from scholarflow.search_client import check, connect

    client = connect(settings)
    check(client, settings.es_url or "embedded engine")
    return client


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories, globs or URLs.")],
    batch_size: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
    doi_lookup: Annotated[
        DoiLookup | None, typer.Option(help="Override SCHOLARFLOW_DOI_LOOKUP.")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read every file, even those already ingested.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Read, decode, enrich and index every record under PATHS.

    Files already ingested completely (same size and time, or same content) are skipped.
    """
    settings = get_settings()
    if doi_lookup is not None:
        os.environ["SCHOLARFLOW_DOI_LOOKUP"] = doi_lookup.value
        get_settings.cache_clear()
        settings = get_settings()
    configure_prefect(settings)

    def body() -> dict[str, Any]:
        from flows.ingest import ingest as ingest_flow
        from flows.ingest import progress_listener
        from scholarflow.search_client import check, connect
        from tasks.fetch import check_readable, expand_sources

        # Missing or unreadable files and an unusable engine fail here, before Prefect starts.
        for source in expand_sources(paths):
            check_readable(source)
        check(connect(settings), settings.es_url or "embedded engine")
        show = not as_json and stderr.is_terminal
        with _progress(enabled=show) as update, progress_listener(update):
            return ingest_flow(paths=paths, batch_size=batch_size, full=full)

    summary = _run(body)
    if as_json:
        _print_json(summary)
    else:
        _print_ingest_summary(summary)


def _progress(enabled: bool) -> Any:
    from contextlib import contextmanager

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    @contextmanager
    def tracker() -> Any:
        if not enabled:
            yield lambda summary: None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        ) as progress:
            task = progress.add_task("reading records", total=None)

            def update(summary: Any) -> None:
                progress.update(
                    task,
                    description=f"{summary.records_read:,} records read, "
                    f"{summary.accounted():,} accounted for",
                )

            yield update

    return tracker()


def _print_ingest_summary(summary: dict[str, Any]) -> None:
    out = Console(soft_wrap=True)  # one line per fact, for grep
    out.print(
        f"[bold]{summary['records_read']}[/] records read → "
        f"[green]{summary['indexed']} indexed[/], "
        f"{summary['duplicates_merged']} merged duplicates, "
        f"{summary['unchanged']} unchanged, [red]{summary['rejected']} rejected[/]"
        f"  (index {summary['index']} behind alias '{summary['alias']}')",
        highlight=False,
    )
    if summary["sources_skipped"]:
        out.print(
            f"  {summary['sources_read']} files read, {summary['sources_skipped']} skipped "
            "(already ingested; --full reads them again)",
            highlight=False,
        )
    for stage, group in summary["rejected_by_stage"].items():
        for reason, count in group["reasons"].items():
            out.print(f"  rejected {count} at {stage}: {escape(reason)}", highlight=False)
    if summary["rejected"]:
        out.print("  see them with: scholarflow deadletter list", highlight=False)
    _print_enrichment(out, summary)


def _print_enrichment(out: Console, summary: dict[str, Any]) -> None:
    if summary["enrichment"]:
        statuses = ", ".join(f"{k} {v}" for k, v in summary["enrichment"].items())
        out.print(f"  enrichment: {statuses}", highlight=False)
    lookups = summary["doi_lookup"]
    if lookups["lookups"]:
        out.print(
            f"  DOI lookups: {lookups['lookups']} ({lookups['cache_hits']} from the cache), "
            f"{lookups['requests']} registry requests, {lookups['retries']} retries, "
            f"{lookups['waited_seconds']} s waited before retries",
            highlight=False,
        )
    if lookups["breaker_open"]:
        out.print(
            "  [yellow]DOI registry unreachable: lookups stopped after repeated network "
            "failures; papers without an answer are marked deferred (`scholarflow reenrich` "
            "looks them up again)[/]",
            highlight=False,
        )


_AGE_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0}


def _parse_age(value: str | None) -> float | None:
    """`30d`, `12h`, `90m` (or a bare number of days) as days."""
    if value is None:
        return None
    text = value.strip().lower()
    unit = text[-1] if text[-1:] in _AGE_UNITS else "d"
    try:
        amount = float(text.rstrip("dhm"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an age like 30d, 12h or 90m") from None
    if amount <= 0:
        raise typer.BadParameter("the age must be positive")
    return amount * _AGE_UNITS[unit] / 86400


@app.command()
def reenrich(
    older_than: Annotated[
        str | None,
        typer.Option(
            metavar="AGE", help="Refresh answers fetched longer ago than this: 30d, 12h, 90m."
        ),
    ] = None,
    status: Annotated[
        list[EnrichmentStatus] | None,
        typer.Option(
            help="Enrichment status to look up again (repeatable). "
            "Default: deferred, failed, cache_miss; with --older-than and no --status, "
            "only the age selects."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
    as_json: JsonOption = False,
) -> None:
    """Look DOIs up again for papers whose enrichment is missing or old; update them in place."""
    days = _parse_age(older_than)
    statuses = status if status or days is None else []
    settings = get_settings()
    if settings.doi_lookup is DoiLookup.OFF:
        _fail("DOI lookups are off: set SCHOLARFLOW_DOI_LOOKUP to on or cache-only")
    configure_prefect(settings)

    def body() -> dict[str, Any]:
        from flows.reenrich import reenrich as reenrich_flow

        return reenrich_flow(older_than_days=days, statuses=statuses, batch_size=batch_size)

    summary = _run(body)
    if as_json:
        _print_json(summary)
        return
    out = Console()
    out.print(
        f"[bold]{summary['selected']}[/] documents selected → [green]{summary['updated']} "
        f"updated[/], {summary['unchanged']} unchanged, {summary['kept']} kept, "
        f"{summary['conflicts']} changed meanwhile (skipped), "
        f"{summary['moved']} moved by a re-index (left for the next run)"
        f"  (index {summary['index']} behind alias '{summary['alias']}')",
        highlight=False,
    )
    _print_enrichment(out, summary)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words in English or Chinese, or a DOI.")],
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", help="Only papers with text in this language (en, zh)."),
    ] = None,
    year: Annotated[
        str | None, typer.Option(metavar="YEARS", help="A year or a range: 2021, 2020-2025.")
    ] = None,
    journal: Annotated[
        list[str] | None, typer.Option(help="Journal name, English or Chinese (repeatable).")
    ] = None,
    quartile: Annotated[
        list[str] | None, typer.Option(help="JCR quartile Q1-Q4 (repeatable).")
    ] = None,
    open_access: Annotated[bool, typer.Option("--open-access", help="Only open access.")] = False,
    facets: Annotated[bool, typer.Option("--facets", help="Count results per facet.")] = False,
    size: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search titles, abstracts, authors and journals in both languages."""
    from scholarflow.query import LANGUAGES, QUARTILES, Filters, parse_year_range
    from scholarflow.search import search_papers

    if bad := [v for v in lang or [] if v not in LANGUAGES]:
        raise typer.BadParameter(f"{bad[0]!r} (use {', '.join(LANGUAGES)})", param_hint="--lang")
    if bad := [v for v in quartile or [] if v.upper() not in QUARTILES]:
        raise typer.BadParameter(f"{bad[0]!r} (use Q1-Q4)", param_hint="--quartile")
    try:
        start, end = parse_year_range(year) if year else (None, None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--year") from exc
    filters = Filters(
        year_from=start,
        year_to=end,
        journals=tuple(journal or ()),
        languages=tuple(lang or ()),
        quartiles=tuple(quartile or ()),
        open_access=True if open_access else None,
    )
    settings = get_settings()
    result = _run(lambda: search_papers(settings, query, size=size, filters=filters, facets=facets))
    if as_json:
        _print_json(result)
        return
    out = Console()
    out.print(f"[bold]{result['total']}[/] papers match [cyan]{query}[/]", highlight=False)
    for rank, hit in enumerate(result["hits"], start=1):
        title = hit["title_en"] or hit["title_zh"]
        out.print(f"{rank:>2}. [bold]{title}[/]  [dim]({hit['score']:.2f})[/]", highlight=False)
        if hit["title_zh"] and hit["title_en"]:
            out.print(f"    {hit['title_zh']}", highlight=False)
        where = ", ".join(str(v) for v in (hit["journal"], hit["year"]) if v)
        out.print(f"    [dim]{hit['doi'] or hit['id']}  {where}[/]", highlight=False)
        for fragment in hit["highlight"][:1]:
            out.print(f"    … {fragment} …", highlight=False)
    for name, buckets in result.get("facets", {}).items():
        if buckets:
            counts = ", ".join(f"{b['value']} ({b['count']})" for b in buckets)
            out.print(f"[bold]{name}[/]: {counts}", highlight=False)


@app.command()
def suggest(
    prefix: Annotated[str, typer.Argument(help="The start of a title, in either language.")],
    size: Annotated[int, typer.Option(min=1, max=50)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Titles that complete what has been typed so far."""
    from scholarflow.search import suggest_titles

    settings = get_settings()
    result = _run(lambda: suggest_titles(settings, prefix, size=size))
    if as_json:
        _print_json(result)
        return
    for item in result["suggestions"]:
        Console().print(f"{item['text']}  [dim]{item['doi'] or item['id']}[/]", highlight=False)


@app.command("eval")
def evaluate(
    judgments: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Judged queries (default: the repo's)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Measure search quality on judged queries: MRR@10, nDCG@10, recall@10 per language."""
    from scholarflow import relevance
    from scholarflow.indices import live_index
    from scholarflow.search_client import connect

    settings = get_settings()

    def body() -> dict[str, Any]:
        client = connect(settings)
        if live_index(client, settings.alias) is None:
            _fail(f"the alias '{settings.alias}' has no index yet: ingest first")
        judged = relevance.load_judgments(judgments or relevance.JUDGMENTS)
        return relevance.report(relevance.evaluate(client, settings.alias, judged))

    result = _run(body)
    if as_json:
        _print_json(result)
        return
    out = Console()
    out.print(relevance.markdown_table(result["groups"]), highlight=False)
    for row in result["queries"]:
        if row["missed"] or row["reciprocal_rank"] < 1:
            out.print(
                f"  {row['id']} {row['query']!r}: first relevant at "
                f"{round(1 / row['reciprocal_rank']) if row['reciprocal_rank'] else 'none'}"
                f"{', missed ' + ', '.join(row['missed']) if row['missed'] else ''}",
                highlight=False,
            )


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Where to look first: the engine, the live index, the writer lock, the dead letters.

    The live index with its size, its last write and its papers by enrichment status.
    """
    from scholarflow.search import index_status

    settings = get_settings()
    result = _run(lambda: index_status(settings))
    if as_json:
        _print_json(result)
        return
    width = max(map(len, result))
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{name} {count}" for name, count in value.items()) or "-"
        Console().print(f"{key:>{width}}: {value}", highlight=False)


@app.command()
def serve(
    port: Annotated[
        int | None,
        typer.Option(help="Port of the Prefect server's UI and API [SCHOLARFLOW_PREFECT_PORT]."),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(help="Use this Prefect API instead of starting a server [PREFECT_API_URL]."),
    ] = None,
) -> None:
    """Start a Prefect server, its UI and the engine, and serve the deployments until Ctrl-C.

    The deployments: ingest on a schedule, reenrich nightly, reindex by hand.
    """
    settings = get_settings()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs belong in the UI
    configure_prefect(settings)
    api_url = api_url or os.environ.get("PREFECT_API_URL")

    def body() -> None:
        from flows.serve import run_serve

        run_serve(
            settings,
            port=port or settings.prefect_port,
            api_url=api_url,
            say=lambda line: print(line, flush=True),
        )

    _run(body)


@app.command()
def deploy(
    pool: Annotated[str, typer.Option(help="Process work pool; created when missing.")] = (
        "scholarflow"
    ),
) -> None:
    """Register the deployments on a work pool, for workers to run (scale-out).

    Server: PREFECT_API_URL. Workers: `prefect worker start --pool POOL`. Instead of `serve`.
    """
    settings = get_settings()
    if not os.environ.get("PREFECT_API_URL"):
        _fail("set PREFECT_API_URL to the Prefect server the workers use")
    configure_prefect(settings)

    def body() -> list[str]:
        from flows.deployments import deploy_to_pool

        return deploy_to_pool(settings, pool)

    ids = _run(body)
    Console().print(f"{len(ids)} deployments on work pool '{pool}'", highlight=False)


@app.command()
def reindex(
    mode: Annotated[ReindexMode, typer.Option(help=REINDEX_MODE_HELP)] = ReindexMode.COPY,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the plan only.")] = False,
    keep: Annotated[int, typer.Option(min=0, max=20, help="Previous indices kept.")] = 2,
    allow_removals: Annotated[
        bool, typer.Option("--allow-removals", help="Let the new index lack live documents.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build the next index, verify it, switch the alias; searches never stop."""
    settings = get_settings()
    configure_prefect(settings)
    if not _state["debug"]:
        # A failed re-index is reported in one line below; its traceback only with --debug.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")

    def body() -> dict[str, Any]:
        from flows.reindex import ReindexParameters
        from flows.reindex import reindex as reindex_flow
        from scholarflow.search_client import connect
        from tasks.reindex import plan_reindex

        # Planning first surfaces an operator's mistake (no index, a missing source) as one
        # line, before Prefect starts; a dry run needs nothing more.
        plan = plan_reindex(connect(settings), settings, mode.value, keep)
        if dry_run:
            return {"dry_run": True, **plan.as_dict()}
        parameters = ReindexParameters(mode=mode.value, keep=keep, allow_removals=allow_removals)
        return reindex_flow(parameters=parameters)

    result = _run(body)
    if as_json:
        _print_json(result)
        return
    out = Console()
    if result["dry_run"]:
        out.print(
            f"would re-index {result['live']} ({result['live_documents']} documents, "
            f"{result['live_profile']} analysis) into {result['target']} by {result['mode']} "
            f"with {result['profile']} analysis; then delete "
            f"{', '.join(result['would_delete']) or 'nothing'}",
            highlight=False,
        )
        for source in result["sources"]:
            out.print(f"  source: {source}", highlight=False)
        return
    check = result["verification"]
    out.print(
        f"alias '{result['alias']}': {result['previous']} → [bold]{result['index']}[/] "
        f"({check['documents']} documents: {check['added']} added, {check['removed']} removed; "
        f"{len(check['judged_queries_checked'])} judged queries checked) in {result['seconds']} s",
        highlight=False,
    )
    out.print(
        f"  kept for rollback: {', '.join(result['kept']) or 'none'}; "
        f"deleted: {', '.join(result['deleted']) or 'none'}",
        highlight=False,
    )


@app.command()
def rollback(as_json: JsonOption = False) -> None:
    """Point the alias back at the previous index."""
    from scholarflow.indices import roll_back
    from scholarflow.search_client import connect

    settings = get_settings()

    def body() -> dict[str, str]:
        from scholarflow.engine import embedded_engine

        result = roll_back(connect(settings), settings.alias)
        if settings.embedded:
            embedded_engine(settings).persist()
        return result

    result = _run(body)
    if as_json:
        _print_json(result)
    else:
        Console().print(
            f"alias '{result['alias']}': {result['from']} → [bold]{result['to']}[/]",
            highlight=False,
        )


def _describe(state: EngineState) -> str:
    if state.kind == "osmem":
        return f"osmem {state.version} (fallback: in memory, not Lucene) at {redact_url(state.url)}"
    return f"opensearch {state.version} (Lucene {state.lucene}) at {redact_url(state.url)}"


@engine_app.command("status")
def engine_status(as_json: JsonOption = False) -> None:
    """Whether the embedded engine runs: its kind, versions, URL and pid."""
    from dataclasses import asdict

    from scholarflow.engine import embedded_engine

    state = embedded_engine(get_settings()).status()
    data = {"running": state is not None, **(asdict(state) if state else {})}
    if state:
        data["url"] = redact_url(state.url)
    if as_json:
        _print_json(data)
    else:
        text = f"running: {_describe(state)} (pid {state.pid})" if state else "not running"
        Console().print(text, highlight=False)
    if state is None:
        raise typer.Exit(1)


@engine_app.command("start")
def engine_start() -> None:
    """Start the embedded engine now (commands also start it on demand)."""
    from scholarflow.engine import embedded_engine

    state = _run(lambda: embedded_engine(get_settings()).ensure())
    Console().print(f"running: {_describe(state)} (pid {state.pid})", highlight=False)


@engine_app.command("build")
def engine_build() -> None:
    """Build the real engine with Maven now (the first start does it otherwise)."""
    from scholarflow.engine import opensearch

    settings = get_settings()
    try:
        java = opensearch.find_java()
        lib = opensearch.build(settings.home_dir / "engine" / "build.log")
    except opensearch.Unavailable as exc:
        if settings.engine == "opensearch":
            _fail(f"the embedded OpenSearch cannot run: {exc}")
        Console().print(
            f"not built: {exc}; the fallback engine osmem will be used", highlight=False
        )
        return
    Console().print(f"built: {lib} (Java {java.major} at {java.path})", highlight=False)


@engine_app.command("migrate")
def engine_migrate(as_json: JsonOption = False) -> None:
    """Load the fallback engine's last snapshot into the running real engine."""
    from scholarflow.engine.migrate import migrate_snapshot, snapshot_of
    from scholarflow.search_client import connect

    settings = get_settings()
    result = _run(
        lambda: migrate_snapshot(connect(settings), snapshot_of(settings.home_dir), settings.alias)
    )
    if as_json:
        _print_json(result)
        return
    for name, count in result["indices"].items():
        Console().print(f"{name}: {count} documents", highlight=False)
    Console().print(
        f"migrated {len(result['indices'])} indices from {result['snapshot']}; "
        f"aliases: {', '.join(result['aliases']) or 'none'}",
        highlight=False,
    )


@engine_app.command("stop")
def engine_stop() -> None:
    """Stop the embedded engine; its data stays under the home directory."""
    from scholarflow.engine import embedded_engine

    stopped = embedded_engine(get_settings()).stop()
    Console().print("stopped" if stopped else "was not running", highlight=False)


@cache_app.command("import")
def cache_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load recorded DOI responses (JSON Lines: doi, source, status, fetched_at, body)."""
    from scholarflow.registry import DoiCache
    from scholarflow.search_client import connect

    settings = get_settings()

    def body() -> int:
        from scholarflow.engine import embedded_engine

        entries = (orjson.loads(line) for line in file.read_bytes().splitlines() if line.strip())
        stored = DoiCache(connect(settings), settings).import_entries(entries)
        if settings.embedded:
            embedded_engine(settings).persist()
        return stored

    stored = _run(body)
    Console().print(f"{stored} DOI responses cached", highlight=False)


@deadletter_app.command("list")
def deadletter_list(
    stage: Annotated[Stage | None, typer.Option(help="Only entries from this stage.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest entries shown.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Rejected records, newest first, with counts by stage and reason."""
    from scholarflow.deadletter import DeadLetterStore

    settings = get_settings()
    page = _run(
        lambda: DeadLetterStore(_checked_client(settings)).page(
            stage.value if stage else None, limit
        )
    )
    if as_json:
        _print_json({"total": page.total, "by_stage": page.by_stage, "entries": page.entries})
        return
    out = Console(soft_wrap=True)
    out.print(f"[bold]{page.total}[/] records in the dead-letter store", highlight=False)
    for name, reasons in page.by_stage.items():
        for reason, count in reasons.items():
            out.print(f"  {count:>6} at {name}: {escape(reason)}", highlight=False)
    for entry in page.entries:
        out.print(
            f"{entry['id']}  {entry['stage']:<6} {escape(entry['source'])}:{entry['location']}  "
            f"[dim]{escape(entry['reason'])}[/]",
            highlight=False,
            soft_wrap=True,
        )


@deadletter_app.command("show")
def deadletter_show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="An id from `deadletter list`.")],
    as_json: JsonOption = False,
) -> None:
    """One entry in full: where, why, and the raw record as the source held it."""
    from scholarflow.deadletter import DeadLetterStore

    settings = get_settings()
    entry = _run(lambda: DeadLetterStore(_checked_client(settings)).get([entry_id])).get(entry_id)
    if entry is None:
        _fail(f"no dead-letter entry {entry_id} (see: scholarflow deadletter list)")
    if as_json:
        _print_json(entry)
        return
    out = Console(soft_wrap=True)
    for key in ("id", "stage", "reason", "detail", "source", "location", "run_id", "at"):
        if entry.get(key) is not None:
            out.print(f"{key:>9}: {entry[key]}", highlight=False, soft_wrap=True, markup=False)
    record = orjson.dumps(entry.get("record"), option=orjson.OPT_INDENT_2).decode()
    out.print(f"   record: {record}", highlight=False, soft_wrap=True, markup=False)


@deadletter_app.command("replay")
def deadletter_replay(
    entry_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Entries to replay.")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every entry.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run entries through decode, enrich and index again; remove those that now succeed."""
    if bool(entry_ids) == replay_all:
        _fail("name the entries to replay, or pass --all (not both)", code=2)
    settings = get_settings()
    configure_prefect(settings)  # the pipeline's tasks import Prefect, and its logging with it
    from flows.replay import replay

    result = _run(lambda: replay(settings, None if replay_all else entry_ids, settings.batch_size))
    data = result.as_dict()
    if as_json:
        _print_json(data)
        return
    out = Console(soft_wrap=True)
    out.print(
        f"replayed {data['entries']} entries ({data['records']} records): "
        f"[green]{data['indexed']} indexed[/], {data['merged']} merged, "
        f"{data['unchanged']} unchanged, [red]{data['rejected']} rejected[/]; "
        f"{data['resolved']} entries removed, {data['still_failing']} still failing",
        highlight=False,
    )
    for row in data["failures"]:
        out.print(
            f"  still failing {row['count']} at {row['stage']}: {escape(row['reason'])}",
            highlight=False,
        )
    for missing in data["missing"]:
        out.print(f"  no entry {missing}", highlight=False)
    if data["missing"]:
        raise typer.Exit(1)


@lock_app.command("show")
def lock_show(as_json: JsonOption = False) -> None:
    """Who holds the writer lock on the alias (an ingest, re-index, replay or re-enrichment)."""
    from scholarflow.lock import EXPIRED, read_lease

    settings = get_settings()
    lease = _run(lambda: read_lease(_checked_client(settings), settings.alias))
    if as_json:
        held = {"lease": lease.document(), "expired": lease.expired()} if lease else {}
        _print_json({"alias": settings.alias, "held": lease is not None} | held)
        return
    if lease is None:
        Console().print(f"the writer lock on '{settings.alias}' is free", highlight=False)
        return
    state = EXPIRED if lease.expired() else "held"
    out = Console(soft_wrap=True)
    for key, value in lease.document().items():
        if key != "token":
            out.print(f"{key:>10}: {value}", highlight=False, markup=False)
    out.print(f"{'state':>10}: {state}", highlight=False, markup=False)


@lock_app.command("release")
def lock_release(
    force: Annotated[
        bool, typer.Option("--force", help="Remove the lease whoever holds it.")
    ] = False,
) -> None:
    """Free a stale writer lock (its holder died and you will not wait for the lease to expire).

    A live holder notices at its next renewal and stops writing, so check first with
    `scholarflow lock show` that the run named there is really gone.
    """
    from scholarflow.lock import force_release

    if not force:
        _fail("releasing another run's lock needs --force (see: scholarflow lock show)", code=2)
    settings = get_settings()
    lease = _run(lambda: force_release(_checked_client(settings), settings.alias))
    if lease is None:
        Console().print(f"the writer lock on '{settings.alias}' was free", highlight=False)
    else:
        out = Console(soft_wrap=True)
        out.print(f"released: {lease.describe()}", highlight=False, markup=False)
