"""`sources add|list|remove` and `harvest`: sources named once, harvested incrementally."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import JsonOption, checked_client, configure_prefect, fail, print_json, run
from cli.summaries import deletion_counts, print_rejections
from scholarflow.settings import get_settings

sources_app = typer.Typer(help="Where records are harvested from: OAI-PMH, Crossref, OpenAlex.")
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The source's name.")]


@sources_app.command("add")
def sources_add(
    name: NameArgument,
    kind: Annotated[
        str, typer.Option("--kind", help="oai-pmh, crossref, openalex, pubmed or files.")
    ],
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="The OAI-PMH base URL, the Crossref or OpenAlex API, a snapshot folder, a path.",
        ),
    ],
    set_spec: Annotated[str | None, typer.Option("--set", help="OAI-PMH set.")] = None,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="OAI-PMH metadata prefix: oai_dc (default) or datacite."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Crossref/OpenAlex filter, e.g. prefix:10.5281 (repeat)."),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Cron: when `scholarflow serve` runs it.")
    ] = None,
    window_days: Annotated[
        int, typer.Option("--window-days", min=0, help="Windows of at most N days (0: one).")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Name and configure a source once; `scholarflow harvest NAME` then reads it."""
    from scholarflow.stores.harvest_sources import HarvestSources, SourceError, new_source
    from tasks.harvest.oai import PREFIX_FORMATS

    settings = get_settings()

    def body() -> dict[str, Any]:
        if kind == "oai-pmh" and prefix and prefix not in PREFIX_FORMATS:
            known = ", ".join(PREFIX_FORMATS)
            raise SourceError(f"metadata prefix {prefix!r}: Scholarflow reads {known}")
        if schedule:
            _check_cron(schedule)
        source = new_source(
            name,
            kind,
            url,
            set=set_spec,
            prefix=prefix or ("oai_dc" if kind == "oai-pmh" else None),
            filters=filters or [],
            schedule=schedule,
            window_days=window_days,
        )
        HarvestSources(checked_client(settings)).add(source)
        return source.model_dump(exclude_none=True)

    added = run(body)
    if as_json:
        print_json(added)
        return
    when = f", on schedule {added['schedule']}" if added.get("schedule") else ""
    Console(soft_wrap=True).print(
        f"source [bold]{added['name']}[/] added: {added['kind']} {escape(added['url'])}{when}",
        highlight=False,
    )


@sources_app.command("list")
def sources_list(as_json: JsonOption = False) -> None:
    """Every source, with where its harvest stands."""
    from scholarflow.stores.harvest_sources import HarvestSources

    settings = get_settings()
    listed = run(
        lambda: [
            s.model_dump(exclude_none=True) for s in HarvestSources(checked_client(settings)).all()
        ]
    )
    if as_json:
        print_json({"sources": listed})
        return
    out = Console(soft_wrap=True)
    out.print(f"[bold]{len(listed)}[/] sources", highlight=False)
    for source in listed:
        until = source.get("harvested_until") or "never harvested"
        status = f", last run {source['last_status']}" if source.get("last_status") else ""
        out.print(
            f"{source['name']}  {source['kind']}  {escape(source['url'])}  "
            f"harvested until {until}{status}",
            highlight=False,
        )


@sources_app.command("remove")
def sources_remove(name: NameArgument, as_json: JsonOption = False) -> None:
    """Forget a source (its papers stay in the index)."""
    from scholarflow.stores.harvest_sources import HarvestSources

    settings = get_settings()
    run(lambda: HarvestSources(checked_client(settings)).remove(name))
    if as_json:
        print_json({"removed": name})
        return
    Console().print(f"source [bold]{name}[/] removed", highlight=False)


def harvest(
    name: NameArgument,
    full: Annotated[
        bool, typer.Option("--full", help="Harvest from the beginning, not since the last run.")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Up to this date or date-time (ISO 8601).", metavar="WHEN"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Harvest what changed at the source since its last complete window, and apply its
    deletions."""
    settings = get_settings()
    configure_prefect(settings)

    def body() -> dict[str, Any]:
        from flows.harvest import HarvestFailed
        from flows.harvest import harvest as harvest_flow
        from tasks.harvest.windows import parse_moment

        if until:
            parse_moment(until)  # a bad date fails here, before Prefect starts
        checked_client(settings)
        try:
            return harvest_flow(source=name, full=full, until=until)
        except HarvestFailed as exc:
            return exc.summary

    summary = run(body)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
    if summary.get("error"):
        fail(summary["error"])


def _print_summary(summary: dict[str, Any]) -> None:
    out = Console(soft_wrap=True)
    span = f"{summary['harvested_from'] or 'the beginning'} .. {summary['asked_until']}"
    if summary["status"] == "up to date":
        out.print(
            f"source {summary['source']} is harvested up to {summary['harvested_until']}: "
            "nothing to ask for",
            highlight=False,
        )
        return
    out.print(
        f"[bold]{summary['records_read']}[/] records read from {summary['source']} "
        f"({span}, {summary['windows_done']} of {summary['windows']} windows, "
        f"{summary['pages']} pages) → [green]{summary['indexed']} indexed[/], "
        f"{summary['merged']} merged, {summary['unchanged']} unchanged, "
        f"[red]{summary['rejected']} rejected[/], {summary['deleted']} deleted",
        highlight=False,
    )
    if summary["error"]:
        out.print(
            f"  position kept at {summary['harvested_until'] or 'the beginning'}: the next run "
            "asks for the unfinished window again",
            highlight=False,
        )
    if summary["deleted"]:
        out.print(f"  deletions: {deletion_counts(summary['deletions'])}", highlight=False)
    print_rejections(out, summary)


def _check_cron(schedule: str) -> None:
    from prefect.schedules import Cron

    from scholarflow.stores.harvest_sources import SourceError

    try:
        Cron(schedule)
    except Exception as exc:
        raise SourceError(f"schedule {schedule!r} is not a cron expression") from exc
