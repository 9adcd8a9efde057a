"""A paper as a reference manager imports it: RIS, BibTeX or CSL-JSON.

Both titles travel: the English one as the title where there is one, the Chinese one as the
translated title (RIS `TT`, BibTeX `titleaddon`, CSL `original-title`), or as the title of a
paper that has only Chinese. Text is written as it is indexed; BibTeX's special characters are
escaped so a hostile title cannot end the entry, and RIS values are kept to one line.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson

Format = Literal["ris", "bibtex", "csl-json"]
MEDIA_TYPES: dict[str, str] = {
    "ris": "application/x-research-info-systems; charset=utf-8",
    "bibtex": "application/x-bibtex; charset=utf-8",
    "csl-json": "application/vnd.citationstyles.csl+json; charset=utf-8",
}
EXTENSIONS = {"ris": "ris", "bibtex": "bib", "csl-json": "json"}


def cite(paper: dict[str, Any], form: Format) -> str:
    if form == "ris":
        return to_ris(paper)
    if form == "bibtex":
        return to_bibtex(paper)
    return orjson.dumps([to_csl(paper)], option=orjson.OPT_INDENT_2).decode() + "\n"


def _titles(paper: dict[str, Any]) -> tuple[str, str | None]:
    """(the title, the other language's title or None)."""
    en, zh = paper.get("title_en"), paper.get("title_zh")
    if en:
        return en, zh
    return zh or "", None


def _pages(paper: dict[str, Any]) -> tuple[str | None, str | None]:
    pages = (paper.get("journal") or {}).get("pages")
    if not pages:
        return None, None
    first, _, last = str(pages).partition("-")
    return first.strip() or None, last.strip() or None


def _one_line(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip()


def to_ris(paper: dict[str, Any]) -> str:
    title, other = _titles(paper)
    journal = paper.get("journal") or {}
    first, last = _pages(paper)
    lines: list[tuple[str, Any]] = [("TY", "JOUR"), ("TI", title), ("TT", other)]
    lines += [("AU", author["name"]) for author in paper.get("authors") or []]
    lines += [
        ("T2", journal.get("name") or journal.get("name_zh")),
        ("PY", paper.get("year")),
        ("DA", (paper.get("published") or {}).get("value")),
        ("VL", journal.get("volume")),
        ("IS", journal.get("issue")),
        ("SP", first),
        ("EP", last),
        ("PB", journal.get("publisher")),
    ]
    lines += [("SN", issn) for issn in journal.get("issn") or []]
    lines += [
        ("DO", paper.get("doi")),
        ("UR", f"https://doi.org/{paper['doi']}" if paper.get("doi") else paper.get("source_url")),
        ("AB", paper.get("abstract_en") or paper.get("abstract_zh")),
    ]
    lines += [("LA", language) for language in paper.get("languages") or []]
    lines += [("KW", subject) for subject in paper.get("subjects") or []]
    body = "".join(f"{tag}  - {_one_line(value)}\r\n" for tag, value in lines if value)
    return body + "ER  - \r\n"


# Characters BibTeX (and LaTeX after it) reads as syntax, with what stands for each.
_BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIBTEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _BIBTEX_ESCAPES))


def _bibtex_value(value: Any) -> str:
    text = _BIBTEX_SPECIAL.sub(lambda m: _BIBTEX_ESCAPES[m.group()], _one_line(value))
    # Every brace left in a value is escaped, so the value's own braces always balance.
    return "{" + text + "}"


def bibtex_key(paper: dict[str, Any]) -> str:
    """`sadasivan2012methylphenidate`: author, year, first title word, in ASCII; the id's
    characters that BibTeX accepts when the paper has no Latin author or title."""
    authors = paper.get("authors") or []
    family = authors[0]["name"].split()[-1] if authors and authors[0]["name"].split() else ""
    word = next(iter(re.findall(r"[A-Za-z]{3,}", paper.get("title_en") or "")), "")
    key = re.sub(r"[^a-z0-9]", "", f"{family}{paper.get('year') or ''}{word}".lower())
    if not re.search("[a-z]", key):
        key = "paper" + re.sub(r"[^a-z0-9]", "", str(paper.get("id", "")).lower())[-24:]
    return key


def to_bibtex(paper: dict[str, Any]) -> str:
    title, other = _titles(paper)
    journal = paper.get("journal") or {}
    first, last = _pages(paper)
    pages = f"{first}--{last}" if first and last else first
    names = [a["name"] for a in paper.get("authors") or [] if a["name"]]
    fields = [
        ("title", title),
        ("titleaddon", other),
        ("author", " and ".join(_one_line(n) for n in names)),
        ("journal", journal.get("name") or journal.get("name_zh")),
        ("year", paper.get("year")),
        ("volume", journal.get("volume")),
        ("number", journal.get("issue")),
        ("pages", pages),
        ("publisher", journal.get("publisher")),
        ("issn", ", ".join(journal.get("issn") or [])),
        ("doi", paper.get("doi")),
        ("url", f"https://doi.org/{paper['doi']}" if paper.get("doi") else paper.get("source_url")),
        ("abstract", paper.get("abstract_en") or paper.get("abstract_zh")),
        ("language", ", ".join(paper.get("languages") or [])),
    ]
    body = ",\n".join(f"  {name} = {_bibtex_value(value)}" for name, value in fields if value)
    return f"@article{{{bibtex_key(paper)},\n{body}\n}}\n"


def to_csl(paper: dict[str, Any]) -> dict[str, Any]:
    title, other = _titles(paper)
    journal = paper.get("journal") or {}
    item: dict[str, Any] = {"id": paper["id"], "type": "article-journal", "title": title}
    if other:
        item["original-title"] = other
    if paper.get("authors"):
        item["author"] = [{"literal": a["name"]} for a in paper["authors"] if a["name"]]
    if journal.get("name") or journal.get("name_zh"):
        item["container-title"] = journal.get("name") or journal.get("name_zh")
    published = (paper.get("published") or {}).get("value")
    if published:
        item["issued"] = {"date-parts": [[int(p) for p in published.split("-") if p.isdigit()]]}
    elif paper.get("year"):
        item["issued"] = {"date-parts": [[paper["year"]]]}
    for key, value in (
        ("volume", journal.get("volume")),
        ("issue", journal.get("issue")),
        ("page", journal.get("pages")),
        ("publisher", journal.get("publisher")),
        ("ISSN", (journal.get("issn") or [None])[0]),
        ("DOI", paper.get("doi")),
        ("URL", f"https://doi.org/{paper['doi']}" if paper.get("doi") else paper.get("source_url")),
        ("abstract", paper.get("abstract_en") or paper.get("abstract_zh")),
        ("language", (paper.get("languages") or [None])[0]),
    ):
        if value:
            item[key] = value
    return item
