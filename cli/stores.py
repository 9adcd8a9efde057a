"""`cache import` and `deadletter …`: the stores beside the paper index, the recorded DOI answers
and the records that could not be indexed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from cli.common import JsonOption, checked_client, configure_prefect, fail, print_json, run
from scholarflow.paper.models import Stage
from scholarflow.settings import get_settings

cache_app = typer.Typer(help="The DOI lookup cache.")
deadletter_app = typer.Typer(
    help="Records that could not be indexed: list them, show one, replay them."
)


@cache_app.command("import")
def cache_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load recorded DOI responses (JSON Lines: doi, source, status, fetched_at, body)."""
    from scholarflow.engine.client import connect
    from scholarflow.registry import DoiCache

    settings = get_settings()

    def body() -> int:
        from scholarflow.engine import embedded_engine

        entries = (orjson.loads(line) for line in file.read_bytes().splitlines() if line.strip())
        stored = DoiCache(connect(settings), settings).import_entries(entries)
        if settings.embedded:
            embedded_engine(settings).persist()
        return stored

    stored = run(body)
    Console().print(f"{stored} DOI responses cached", highlight=False)


@deadletter_app.command("list")
def deadletter_list(
    stage: Annotated[Stage | None, typer.Option(help="Only entries from this stage.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest entries shown.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Rejected records, newest first, with counts by stage and reason."""
    from scholarflow.stores.deadletters import DeadLetterStore

    settings = get_settings()
    page = run(
        lambda: DeadLetterStore(checked_client(settings)).page(
            stage.value if stage else None, limit
        )
    )
    if as_json:
        print_json({"total": page.total, "by_stage": page.by_stage, "entries": page.entries})
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
    from scholarflow.stores.deadletters import DeadLetterStore

    settings = get_settings()
    entry = run(lambda: DeadLetterStore(checked_client(settings)).get([entry_id])).get(entry_id)
    if entry is None:
        fail(f"no dead-letter entry {entry_id} (see: scholarflow deadletter list)")
    if as_json:
        print_json(entry)
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
        fail("name the entries to replay, or pass --all (not both)", code=2)
    settings = get_settings()
    configure_prefect(settings)  # the pipeline's tasks import Prefect, and its logging with it
    from flows.replay import replay

    result = run(lambda: replay(settings, None if replay_all else entry_ids, settings.batch_size))
    data = result.as_dict()
    if as_json:
        print_json(data)
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
