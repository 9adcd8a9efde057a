"""`ingest`, `reenrich` and `embed`: the commands that write papers, and how their summaries
read."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import JsonOption, configure_prefect, fail, print_json, run, stderr
from cli.summaries import deletion_counts, print_rejections
from scholarflow.paper.models import EnrichmentStatus
from scholarflow.settings import DoiLookup, get_settings


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories, globs or URLs.")],
    batch_size: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
    doi_lookup: Annotated[
        DoiLookup | None, typer.Option(help="Override SCHOLARFLOW_DOI_LOOKUP.")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read every file, even those already ingested.")
    ] = False,
    then_embed: Annotated[
        bool, typer.Option("--embed", help="Then give the new papers their vectors (embed).")
    ] = False,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Read every file as medline, ris, bibtex, endnote, refworks or noteexpress "
            "(default: from each file's name and first lines).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read, decode, enrich and index every record under PATHS.

    PubMed XML (.xml), RIS (.ris), BibTeX (.bib), EndNote (.enw), NoteExpress (.net) and
    RefWorks exports are read besides the JSON shapes; a .txt export is known by its lines.

    Files already ingested completely (same size and time, or same content) are skipped. The
    papers are searchable by their words once indexed; with --embed the run then makes their
    vectors, as `scholarflow embed` does.
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
        from scholarflow.engine.client import check, connect
        from tasks.fetch import check_readable, expand_sources
        from tasks.fetch.text_files import check_format

        # A wrong format, missing or unreadable files and an unusable engine fail here, before
        # Prefect starts.
        forced = check_format(file_format)
        for source in expand_sources(paths, any_suffix=forced is not None):
            check_readable(source)
        check(connect(settings), settings.es_url or "embedded engine")
        show = not as_json and stderr.is_terminal
        with _progress(enabled=show) as update, progress_listener(update):
            return ingest_flow(
                paths=paths, batch_size=batch_size, full=full, then_embed=then_embed, format=forced
            )

    summary = run(body)
    if as_json:
        print_json(summary)
        return
    _print_ingest_summary(summary)
    if summary.get("embedding"):
        _print_embed_summary(summary["embedding"])


@contextmanager
def _progress(enabled: bool) -> Any:
    """A spinner with the running counts on stderr, or a no-op updater when it is not shown."""
    if not enabled:
        yield lambda summary: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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
    print_rejections(out, summary)
    if summary.get("deletions_read"):
        out.print(
            f"  {summary['deletions_read']} deletions read (PubMed DeleteCitation): "
            f"{deletion_counts(summary['deletions'])}",
            highlight=False,
        )
    _print_enrichment(out, summary)
    _print_watches(out, summary.get("watches") or {})


def _print_watches(out: Console, watches: dict[str, Any]) -> None:
    if watches.get("error"):
        out.print(f"  [yellow]{escape(watches['error'])}[/]", highlight=False)
    elif watches.get("searches"):
        left_out = f", {watches['overflow']} more counted" if watches["overflow"] else ""
        found = ", ".join(f"{name} {count}" for name, count in watches["by_search"].items())
        out.print(
            f"  saved searches: {watches['matches']} matches among {watches['papers']} new or "
            f"changed papers ({watches['published']} announced{left_out})"
            + (f": {escape(found)}" if found else ""),
            highlight=False,
        )


def _print_enrichment(out: Console, summary: dict[str, Any]) -> None:
    if summary["enrichment"]:
        statuses = ", ".join(f"{k} {v}" for k, v in summary["enrichment"].items())
        out.print(f"  enrichment: {statuses}", highlight=False)
    if summary.get("doi_matching"):
        found = ", ".join(f"{k} {v}" for k, v in summary["doi_matching"].items())
        out.print(f"  DOI search for records without one: {found}", highlight=False)
    if summary.get("moved_to_doi"):
        out.print(
            f"  {summary['moved_to_doi']} documents without a DOI moved to the DOI found for "
            "their paper",
            highlight=False,
        )
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
        fail("DOI lookups are off: set SCHOLARFLOW_DOI_LOOKUP to on or cache-only")
    configure_prefect(settings)

    def body() -> dict[str, Any]:
        from flows.reenrich import reenrich as reenrich_flow

        return reenrich_flow(older_than_days=days, statuses=statuses, batch_size=batch_size)

    summary = run(body)
    if as_json:
        print_json(summary)
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
    if summary["corrections"]:
        statuses = ", ".join(f"{k} {v}" for k, v in summary["corrections"].items())
        out.print(f"  corrections changed, now: {statuses}", highlight=False)
    _print_enrichment(out, summary)


def embed(
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Check every paper's text against its vector, not only new ones."
        ),
    ] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, max=2000)] = None,
    as_json: JsonOption = False,
) -> None:
    """Give indexed papers their vectors (cross-lingual search); cached texts are not embedded.

    Papers without a vector, or whose vector another model made; with --all every paper whose
    text changed since its vector was made.
    """
    settings = get_settings()
    configure_prefect(settings)

    def body() -> dict[str, Any]:
        from flows.embed import embed as embed_flow

        return embed_flow(everything=everything, batch_size=batch_size)

    summary = run(body)
    if as_json:
        print_json(summary)
    else:
        _print_embed_summary(summary)


def _print_embed_summary(summary: dict[str, Any]) -> None:
    out = Console()
    if summary["vector_mapping"] == "none":
        out.print(
            f"no vectors: the index {summary['index']} has no vector field, search is lexical "
            "only (`scholarflow status` says whether the engine has a vector type; "
            "`scholarflow reindex` builds an index with it)",
            highlight=False,
        )
        return
    out.print(
        f"[bold]{summary['selected']}[/] papers selected → [green]{summary['updated']} "
        f"updated[/], {summary['unchanged']} unchanged, {summary['conflicts']} changed "
        f"meanwhile (left for the next run), {summary['moved']} moved by a re-index, "
        f"{summary['refused']} refused  (index {summary['index']}, model {summary['model']})",
        highlight=False,
    )
    rate = summary["embedded_per_cpu_second"]
    out.print(
        f"  vectors: {summary['embedded']} embedded, {summary['cached']} from the cache, "
        f"{summary['empty']} without text, {summary['truncated']} cut to the window"
        + (f"; {rate} papers per CPU second" if rate else ""),
        highlight=False,
    )
