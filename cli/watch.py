"""`watch add|list|show|remove`: saved searches that every ingest checks its new papers against."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import JsonOption, checked_client, print_json, run
from cli.search import (
    JournalOption,
    LangOption,
    OpenAccessOption,
    QuartileOption,
    QueryArgument,
    YearOption,
    parse_filters,
)
from scholarflow.settings import get_settings

watch_app = typer.Typer(
    help="Saved searches: each ingest tells which of its new papers they match."
)
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The saved search's name.")]


def _sync_live(client: Any, alias: str) -> dict[str, str]:
    """Bring the live index's percolator store up to date now, so a saved search its mappings
    refuse fails when added, not at the next ingest. On an engine without a percolator there is
    no store: the answer's `warning` says, in one line, that saved searches are not matched."""
    from scholarflow.alerts.percolator import ensure_percolator, sync, unmatched_reason
    from scholarflow.alerts.watches import WatchStore
    from scholarflow.stores.indices import live_index

    if why := unmatched_reason(client):
        return {"warning": why}
    index = live_index(client, alias)
    if index is not None:
        sync(client, ensure_percolator(client, index), WatchStore(client).all())
    return {}


def _unmatched(client: Any) -> dict[str, str]:
    """`{"warning": why}` on an engine that cannot match saved searches, else nothing."""
    from scholarflow.alerts.percolator import unmatched_reason

    why = unmatched_reason(client)
    return {"warning": why} if why else {}


def _print_warning(out: Console, shown: dict[str, Any]) -> None:
    if shown.get("warning"):
        out.print(f"[yellow]note: {escape(shown['warning'])}[/]", highlight=False)


@watch_app.command("add")
def watch_add(
    name: NameArgument,
    query: QueryArgument,
    lang: LangOption = None,
    year: YearOption = None,
    journal: JournalOption = None,
    quartile: QuartileOption = None,
    open_access: OpenAccessOption = False,
    as_json: JsonOption = False,
) -> None:
    """Save a search; from the next ingest on, its new matches are announced."""
    from scholarflow.alerts.watches import WatchStore, new_saved_search
    from scholarflow.stores.indices import live_index

    filters = parse_filters(lang, year, journal, quartile, open_access)
    settings = get_settings()

    def body() -> dict[str, Any]:
        search = new_saved_search(name, query, filters)
        client = checked_client(settings)
        WatchStore(client).add(search)
        try:
            unmatched = _sync_live(client, settings.alias)
        except Exception:
            WatchStore(client).remove(search.name)
            raise
        index = live_index(client, settings.alias)
        now = client.count(index=index, query=search.query())["count"] if index else 0
        return {**search.as_source(), "matches_now": now, **unmatched}

    added = run(body)
    if as_json:
        print_json(added)
        return
    out = Console(soft_wrap=True)
    announced = "" if added.get("warning") else "; each ingest announces the new ones"
    out.print(
        f"saved search [bold]{added['name']}[/] added: {escape(added['text'])} "
        f"({added['matches_now']} papers in the index match it now{announced})",
        highlight=False,
    )
    _print_warning(out, added)


@watch_app.command("list")
def watch_list(as_json: JsonOption = False) -> None:
    """Every saved search, with its query and filters."""
    from scholarflow.alerts.watches import SavedSearch, WatchStore

    settings = get_settings()

    def body() -> dict[str, Any]:
        client = checked_client(settings)
        searches = [s.as_source() for s in WatchStore(client).all()]
        return {"searches": searches, **_unmatched(client)}

    listed = run(body)
    if as_json:
        print_json(listed)
        return
    searches = [SavedSearch.from_source(s) for s in listed["searches"]]
    out = Console(soft_wrap=True)
    out.print(f"[bold]{len(searches)}[/] saved searches", highlight=False)
    _print_warning(out, listed)
    for search in searches:
        filters = search.describe_filters()
        narrowed = f"  [dim]({escape(filters)})[/]" if filters else ""
        out.print(f"{search.name}  {escape(search.text)}{narrowed}", highlight=False)


@watch_app.command("show")
def watch_show(
    name: NameArgument,
    new: Annotated[
        bool, typer.Option("--new", help="Only what was found since you last looked.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A saved search and the papers the latest ingests found for it (newest first).

    With --new, only runs since the last `show --new`, which then marks them seen.
    """
    from scholarflow.alerts.hits import WatchHits
    from scholarflow.alerts.watches import WatchStore
    from scholarflow.paper.doi_moves import follow_moves

    settings = get_settings()

    def body() -> dict[str, Any]:
        client = checked_client(settings)
        store = WatchStore(client)
        search = store.get(name)
        runs = WatchHits(client).runs(search.name, search.seen_until if new else None)
        # A paper found without a DOI may have moved to the DOI a later run found for it.
        moved = follow_moves(client, settings.alias, (p for r in runs for p in r["papers"]))
        for found in runs:
            found["papers"] = [
                {**p, **moved[p["id"]], "moved_from": p["id"]} if p.get("id") in moved else p
                for p in found["papers"]
            ]
        if new and runs:
            store.mark_seen(search.name, runs[0]["at"])
        return {**search.as_source(), "new_only": new, "runs": runs, **_unmatched(client)}

    shown = run(body)
    if as_json:
        print_json(shown)
        return
    out = Console(soft_wrap=True)
    out.print(f"[bold]{shown['name']}[/]: {escape(shown['text'])}", highlight=False)
    _print_warning(out, shown)
    if not shown["runs"]:
        out.print("  nothing new" if new else "  no ingest has matched it yet", highlight=False)
    for found in shown["runs"]:
        left_out = f", {found['overflow']} more not listed" if found["overflow"] else ""
        out.print(
            f"  run {found['run_id']} at {found['at']}: {found['matched']} papers{left_out}",
            highlight=False,
        )
        for paper in found["papers"]:
            title = paper.get("title_en") or paper.get("title_zh") or ""
            where = paper.get("doi") or paper.get("id")
            out.print(f"    {escape(title)}  [dim]{where} {paper.get('year') or ''}[/]")


@watch_app.command("remove")
def watch_remove(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete a saved search and what was found for it."""
    from scholarflow.alerts.hits import WatchHits
    from scholarflow.alerts.watches import WatchStore

    settings = get_settings()

    def body() -> None:
        client = checked_client(settings)
        WatchStore(client).remove(name)
        WatchHits(client).remove(name)
        _sync_live(client, settings.alias)

    run(body)
    if as_json:
        print_json({"removed": name})
        return
    Console().print(f"saved search [bold]{escape(name)}[/] removed", highlight=False)
