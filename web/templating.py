"""The pages' templates and the filters they use. Jinja2 escapes every value (autoescape);
the only markup made from text here is a highlight's `<mark>`, around escaped pieces.

Text from the index is shown inside `<bdi>` with the language it is in: a right-to-left
override in a hostile title stays inside its element and cannot turn the page around it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from scholarflow.search.query import HIGHLIGHT_END, HIGHLIGHT_START
from web import words

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
_MARKS = re.compile(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])")


def marked(fragment: str) -> Markup:
    """`… «白细胞减少» …` → `… <mark>白细胞减少</mark> …`, every piece escaped."""
    out: list[str] = []
    inside = False
    for piece in _MARKS.split(fragment):
        if piece == HIGHLIGHT_START and not inside:
            out.append("<mark>")
            inside = True
        elif piece == HIGHLIGHT_END and inside:
            out.append("</mark>")
            inside = False
        else:
            out.append(str(escape(piece)))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))


def text_lang(text: str | None) -> str:
    """The `lang` of a piece of text: Chinese where it has Han characters."""
    return "zh-Hans" if text and re.search(r"[\u3400-\u9fff]", text) else "en"


def web_url(url: str | None) -> str | None:
    """`url` when it is an http(s) address; a `javascript:` or `data:` one is never a link."""
    return url if url and re.match(r"(?i)https?://", url) else None


def paper_path(paper_id: str) -> str:
    return "/papers/" + quote(paper_id, safe="/")


def query_string(params: list[tuple[str, str]], **changes: Any) -> str:
    """`?…` of `params` with `changes` (None removes a name; a list sets every value)."""
    kept = [(k, v) for k, v in params if k not in changes]
    for name, value in changes.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        kept += [(name, str(v)) for v in values]
    return "?" + urlencode(kept)


templates.env.filters["marked"] = marked
templates.env.filters["text_lang"] = text_lang
templates.env.globals.update(
    paper_path=paper_path,
    web_url=web_url,
    query_string=query_string,
    HTML_LANG=words.HTML_LANG,
    number=words.number,
    papers_found=words.papers_found,
    cited_by=words.cited_by,
    date=words.date,
    facet_value=words.facet_value,
)
