"""`search`, `suggest` and `eval`: the commands that read the index through the search API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import JsonOption, fail, print_json, run
from scholarflow.settings import get_settings

# The words and filters `search` and `watch add` share.
QueryArgument = Annotated[str, typer.Argument(help="Words in English or Chinese, or a DOI.")]
LangOption = Annotated[
    list[str] | None,
    typer.Option("--lang", help="Only papers with text in this language (en, zh)."),
]
YearOption = Annotated[
    str | None, typer.Option(metavar="YEARS", help="A year or a range: 2021, 2020-2025.")
]
JournalOption = Annotated[
    list[str] | None, typer.Option(help="Journal name, English or Chinese (repeatable).")
]
QuartileOption = Annotated[list[str] | None, typer.Option(help="JCR quartile Q1-Q4 (repeatable).")]
OpenAccessOption = Annotated[bool, typer.Option("--open-access", help="Only open access.")]
CorrectionOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="STATUS",
        help="Only papers retracted, withdrawn, corrected, … (repeatable; asking for "
        "retracted or withdrawn papers stops ranking them last).",
    ),
]
HideRetractedOption = Annotated[
    bool, typer.Option("--hide-retracted", help="Leave retracted and withdrawn papers out.")
]


def search(
    query: QueryArgument,
    lang: LangOption = None,
    year: YearOption = None,
    journal: JournalOption = None,
    quartile: QuartileOption = None,
    open_access: OpenAccessOption = False,
    correction: CorrectionOption = None,
    hide_retracted: HideRetractedOption = False,
    facets: Annotated[bool, typer.Option("--facets", help="Count results per facet.")] = False,
    size: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search titles, abstracts, authors and journals in both languages."""
    from scholarflow.search.service import search_papers

    filters = parse_filters(lang, year, journal, quartile, open_access, correction, hide_retracted)
    settings = get_settings()
    result = run(lambda: search_papers(settings, query, size=size, filters=filters, facets=facets))
    if as_json:
        print_json(result)
        return
    out = Console()
    matches = "paper matches" if result["total"] == 1 else "papers match"
    out.print(f"[bold]{result['total']:,}[/] {matches} [cyan]{escape(query)}[/]", highlight=False)
    if result.get("relaxed"):
        out.print("[dim]no paper holds most of these words: papers with any of them[/]")
    for rank, hit in enumerate(result["hits"], start=1):
        title = escape(hit["title_en"] or hit["title_zh"])
        mark = _mark(hit["correction"])
        score = f"[dim]({hit['score']:.2f})[/]"
        out.print(f"{rank:>2}. {mark}[bold]{title}[/]  {score}", highlight=False)
        if hit["title_zh"] and hit["title_en"]:
            out.print(f"    {escape(hit['title_zh'])}", highlight=False)
        where = ", ".join(str(v) for v in (hit["journal"], hit["year"]) if v)
        out.print(f"    [dim]{hit['doi'] or hit['id']}  {escape(where)}[/]", highlight=False)
        if hit["correction"]:
            out.print(f"    {_notice(hit['correction'])}", highlight=False)
        if hit.get("across_languages"):
            how = [_HOW[m] for m in hit["matched_by"] if m in _HOW]
            out.print(
                f"    [magenta]found across languages, by {' and '.join(how)}[/]", highlight=False
            )
        for fragment in hit["highlight"][:1]:
            out.print(f"    … {fragment} …", highlight=False)
    for name, buckets in result.get("facets", {}).items():
        if buckets:
            counts = ", ".join(f"{b['value']} ({b['count']})" for b in buckets)
            out.print(f"[bold]{name}[/]: {counts}", highlight=False)


_HOW = {"meaning": "meaning", "translation": "translated words"}


def parse_filters(
    lang: list[str] | None,
    year: str | None,
    journal: list[str] | None,
    quartile: list[str] | None,
    open_access: bool,
    correction: list[str] | None = None,
    hide_retracted: bool = False,
) -> Any:
    """The filter options of `search` (and `watch add`) as `Filters`, or a usage error."""
    from scholarflow.search.query import (
        CORRECTIONS,
        LANGUAGES,
        QUARTILES,
        Filters,
        parse_year_range,
    )

    if bad := [v for v in lang or [] if v not in LANGUAGES]:
        raise typer.BadParameter(f"{bad[0]!r} (use {', '.join(LANGUAGES)})", param_hint="--lang")
    if bad := [v for v in quartile or [] if v.upper() not in QUARTILES]:
        raise typer.BadParameter(f"{bad[0]!r} (use Q1-Q4)", param_hint="--quartile")
    if bad := [v for v in correction or [] if v not in CORRECTIONS]:
        choices = ", ".join(CORRECTIONS)
        raise typer.BadParameter(f"{bad[0]!r} (use {choices})", param_hint="--correction")
    try:
        start, end = parse_year_range(year) if year else (None, None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--year") from exc
    return Filters(
        year_from=start,
        year_to=end,
        journals=tuple(journal or ()),
        languages=tuple(lang or ()),
        quartiles=tuple(q.upper() for q in quartile or ()),
        open_access=True if open_access else None,
        corrections=tuple(correction or ()),
        hide_retracted=hide_retracted,
    )


# How a correction status shows in the results: the title's mark, and its colour.
_MARKS = {
    "retracted": ("RETRACTED", "bold white on red"),
    "withdrawn": ("WITHDRAWN", "bold white on red"),
    "expression_of_concern": ("EXPRESSION OF CONCERN", "bold yellow"),
    "corrected": ("CORRECTED", "yellow"),
    "unreadable": ("UPDATES UNREADABLE", "yellow"),
}


def _mark(correction: dict[str, Any] | None) -> str:
    """`[RETRACTED] ` before the title of a retracted paper (every status has its mark)."""
    if not correction:
        return ""
    label, style = _MARKS[correction["status"]]
    return f"[{style}]\\[{label}][/] "


def _notice(correction: dict[str, Any]) -> str:
    """`retracted 2010-02-06 by 10.1016/…`: the status, with the notice's date and DOI."""
    label, style = _MARKS[correction["status"]]
    parts = [label.lower()]
    if correction["notice_date"]:
        parts.append(correction["notice_date"])
    if correction["notice_doi"]:
        parts.append(f"by {correction['notice_doi']}")
    return f"[{style}]{escape(' '.join(parts))}[/]"


def suggest(
    prefix: Annotated[str, typer.Argument(help="The start of a title, in either language.")],
    size: Annotated[int, typer.Option(min=1, max=50)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Titles that complete what has been typed so far."""
    from scholarflow.search.service import suggest_titles

    settings = get_settings()
    result = run(lambda: suggest_titles(settings, prefix, size=size))
    if as_json:
        print_json(result)
        return
    for item in result["suggestions"]:
        Console().print(f"{item['text']}  [dim]{item['doi'] or item['id']}[/]", highlight=False)


def evaluate(
    judgments: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Only these judged queries (a .json file like the repo's, or a set's "
            "queries.jsonl), against the index the alias serves.",
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME",
            help="A judged set of relevance/sets/ (or a folder), repeatable, or 'all': loaded "
            "into a throw-away alias and a textbook BM25 anchor, both measured.",
        ),
    ] = None,
    crosslingual: Annotated[
        bool,
        typer.Option(
            "--crosslingual/--no-crosslingual",
            help="Also the cross-lingual groups, on one-language copies of the index.",
        ),
    ] = True,
    embed: Annotated[
        bool,
        typer.Option("--embed", help="Give a set's papers vectors and search it with them."),
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep a set's indices for the next run.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure search quality on judged queries: nDCG@10, recall@10, MRR@10 per group.

    Without options: the seeds' judged queries against the live index, then the cross-lingual
    groups on one-language copies of it. `--judgments FILE` runs only that file. `--set NAME`
    runs judged sets (relevance/sets/README.md) each beside the textbook BM25 anchor.
    Searched as `scholarflow search` does (SCHOLARFLOW_HYBRID: words and vectors).
    """
    from scholarflow.engine.client import connect
    from scholarflow.search import relevance

    settings = get_settings()

    def body() -> dict[str, Any]:
        from flows.judged_sets import engine_name

        client = connect(settings)
        result: dict[str, Any] = {"engine": engine_name(client), "k": relevance.K}
        if judgments is not None or not sets:
            result |= _live_eval(settings, client, judgments, crosslingual and judgments is None)
        if sets:
            result["sets"] = _set_evals(settings, sets, embed, keep)
        return result

    result = run(body)
    if as_json:
        print_json(result)
        return
    out = Console()
    out.print(f"engine: {result['engine']}", highlight=False)
    if "groups" in result:
        out.print(relevance.markdown_table(result["groups"]), highlight=False)
        for row in result["queries"]:
            if row["missed"] or row["reciprocal_rank"] < 1:
                out.print(
                    f"  {row['id']} {row['query']!r}: first relevant at "
                    f"{round(1 / row['reciprocal_rank']) if row['reciprocal_rank'] else 'none'}"
                    f"{', missed ' + ', '.join(row['missed']) if row['missed'] else ''}",
                    highlight=False,
                )
    for report in result.get("sets", []):
        papers = report["papers"]
        out.print(
            f"\n[bold]{report['name']}[/]: {papers['lines']} papers read → {papers['indexed']} "
            f"indexed, {papers['merged']} merged, {papers['unchanged']} unchanged, "
            f"{papers['rejected']} rejected; anchor {papers['anchor']} papers",
            highlight=False,
            soft_wrap=True,
        )
        out.print(relevance.comparison_table(report["groups"]), highlight=False, soft_wrap=True)


def _live_eval(
    settings: Any, client: Any, judgments: Path | None, crosslingual: bool
) -> dict[str, Any]:
    """The judged queries (the repo's, or `judgments`) against the live index, and the
    cross-lingual groups on one-language copies of it."""
    from scholarflow.search import relevance
    from scholarflow.search.crosslingual_eval import evaluate_crosslingual
    from scholarflow.search.service import hybrid_search
    from scholarflow.stores.indices import live_index

    if live_index(client, settings.alias) is None:
        fail(f"the alias '{settings.alias}' has no index yet: ingest first")
    judged = relevance.load_judgments(judgments or relevance.JUDGMENTS)
    hybrid = hybrid_search(settings)
    scored = relevance.evaluate(client, settings.alias, judged, hybrid)
    extra = []
    if crosslingual:
        embedder = hybrid.embedder if hybrid else None
        extra = evaluate_crosslingual(client, settings.alias, embedder, hybrid)
    return relevance.report(scored, extra)


def _set_evals(settings: Any, names: list[str], embed: bool, keep: bool) -> list[dict[str, Any]]:
    """Each judged set measured beside its anchor (flows/judged_sets.py)."""
    from flows.judged_sets import evaluate_set, set_report
    from scholarflow.search import relevance
    from scholarflow.search.service import hybrid_search

    if "all" in names:
        names = relevance.set_names()
    loaded = [relevance.load_set(name) for name in dict.fromkeys(names)]
    hybrid = hybrid_search(settings) if embed else None
    return [
        set_report(evaluate_set(settings, judged_set, hybrid=hybrid, embed=embed, keep=keep))
        for judged_set in loaded
    ]
