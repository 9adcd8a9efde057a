"""Text clean-up shared by decoding (at ingest) and query building (at search time).

Both sides must fold text the same way, or a Traditional-Chinese query would miss a paper
indexed in Simplified, and a full-width query would miss ASCII text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import ftfy
import opencc
from ftfy.badness import is_bad
from selectolax.lexbor import LexborHTMLParser

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody td tfoot th thead tr ul "
    "jats:p jats:sec jats:title jats:list-item".split()
)
_DROPPED_TAGS = ["script", "style", "iframe", "noscript", "template", "object", "embed", "svg"]
# Elements that mark a field as HTML, JATS or MathML. A `<` counts as markup only when it opens
# or closes one of these, with attributes that have values: `a<b and c>d`, `</=0.3 kb` and
# `p<0.05` are text, and so is every `<` in a field known to be plain.
_ELEMENTS = (
    "a abbr b bdi big blockquote br caption center cite code dd del dfn div dl dt em font h1 h2 "
    "h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp section small span strike strong sub "
    "sup table tbody td tfoot th thead tr tt u ul var wbr article header footer figure figcaption "
    "math mi mn mo mrow msub msup msubsup mfrac msqrt mroot mtext mspace mstyle mover munder "
    "munderover mtable mtr mtd mfenced mmultiscripts mprescripts none semantics annotation "
    "script style iframe noscript template object embed svg title body html head meta link "
    "italic bold sc underline monospace sec list list-item xref ext-link inline-formula"
)
_ELEMENT_NAMES = "|".join(sorted(_ELEMENTS.split(), key=len, reverse=True))
_ATTRIBUTES = r"""(?:\s+[\w:.-]+\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=]+))*"""
_TAG = re.compile(
    rf"</?(?:(?:{_ELEMENT_NAMES})|(?:jats|mml|xlink|xhtml):[\w.-]+){_ATTRIBUTES}\s*/?>"
    r"|<!--.*?-->|<!\[CDATA\[.*?\]\]>",
    re.IGNORECASE | re.DOTALL,
)
# A closing tag of a known element, or a line break: what makes a field of unknown kind markup
# when an opening tag alone would not (`a <b> bold claim` is text that only looks like a tag).
_CLOSING = re.compile(
    rf"</(?:(?:{_ELEMENT_NAMES})|(?:jats|mml|xlink|xhtml):[\w.-]+)\s*>|<br\s*/?>", re.IGNORECASE
)
_MARKUP = re.compile(
    rf"{_TAG.pattern}|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", re.IGNORECASE | re.DOTALL
)
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# C0/C1 controls except tab and newline, zero-width characters, BOM, bidi marks.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_ODD_SPACE = re.compile(r"[\t\r\f\v\u00a0\u3000]")
_NEWLINES = re.compile(r"\s*\n\s*")
# UTF-8 read as Latin-1/Windows-1252 shows a lead byte (Â…ô) followed by a continuation byte
# (U+0080…U+00BF or its Windows-1252 stand-in). Text without such a pair is never mojibake, so
# ftfy's (slower) badness check runs only on the few texts that have one.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
    "\u20ac\u2122]"
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
# Han characters, and the compatibility characters that NFKC folds into Han (Kangxi radicals,
# enclosed and squared ideographs).
_HAN_SOURCE = re.compile(
    r"[\u2e80-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U0001f200-\U0001f2ff"
    r"\U00020000-\U0002ffff]"
)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


class PlainText(str):
    """Text a source declares plain (a reference-manager export, a text side-car line, XML
    already read as text): `clean_text` never parses it as markup, so no `<` in it is lost."""

    __slots__ = ()


def html_to_text(markup: str) -> str:
    """Visible text of an HTML (or JATS) fragment, paragraphs on their own lines.

    Inline tags join without spaces so `m<sup>2</sup>` reads `m2`; script, style and frames are
    dropped with their content; entities are decoded, twice when the source escaped them twice.
    A `<` that opens no known element (`p<0.05`, `a<b and c>d`) is text and stays.
    """
    tree = LexborHTMLParser(_escape_stray_brackets(markup))
    tree.strip_tags(_DROPPED_TAGS)
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    for node in root.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
        elif tag in _BLOCK_TAGS:
            parts.append("\n")
    text = "".join(parts)
    if _ENTITY.search(text):
        text = html.unescape(text)
    return text


def _escape_stray_brackets(markup: str) -> str:
    """The fragment with every `<` that does not open a known element written as `&lt;`, so the
    HTML parser keeps it as text instead of reading the rest of the field as a tag."""
    if "<" not in markup:
        return markup
    parts: list[str] = []
    at = 0
    for match in _TAG.finditer(markup):
        parts.append(markup[at : match.start()].replace("<", "&lt;"))
        parts.append(match.group())
        at = match.end()
    parts.append(markup[at:].replace("<", "&lt;"))
    return "".join(parts)


def looks_like_markup(value: str) -> bool:
    """True when a field of unknown kind holds a known element or a character entity."""
    return ("<" in value or "&" in value) and _MARKUP.search(value) is not None


def closes_an_element(value: str) -> bool:
    """True when a field of unknown kind closes a known element (`</p>`, `</jats:p>`) or breaks
    a line (`<br>`): sources that mix plain and HTML fields (Dublin Core descriptions, work
    titles with `<i>`) are read as markup only then."""
    return "<" in value and _CLOSING.search(value) is not None


def clean_text(value: str | None, markup: bool | None = None) -> str | None:
    """Normalised text, or None when nothing visible is left.

    `markup` says what the field is: True for HTML/JATS, False for plain text (never parsed),
    None to decide by the value: `PlainText` is plain, anything else is markup only when it
    holds a known element or an entity. NFKC folds full-width Latin letters and digits to ASCII
    and compatibility forms (ligatures, superscript digits) to plain ones; invisible and control
    characters are removed.
    """
    if value is None:
        return None
    if markup is None:
        markup = not isinstance(value, PlainText) and looks_like_markup(value)
    text = html_to_text(value) if markup and ("<" in value or "&" in value) else str(value)
    if not text.isascii():  # ASCII is never mojibake, and NFKC leaves it as it is
        text = unicodedata.normalize("NFKC", repair_mojibake(text))
    if text.isprintable():
        # The common case, and a fast one: printable text has no invisible characters, tabs,
        # odd spaces or line breaks, so only runs of spaces may need folding.
        return (_SPACES.sub(" ", text) if "  " in text else text).strip() or None
    text = _INVISIBLE.sub("", text)
    if "  " in text or _ODD_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    return text.strip() or None


def repair_mojibake(text: str) -> str:
    """Text that was UTF-8 decoded as Latin-1 or Windows-1252 (`cafÃ©`, `åˆ©å¦¥`), repaired by
    ftfy; anything ftfy does not judge bad is returned unchanged."""
    if _MOJIBAKE_HINT.search(text) and is_bad(text):
        return ftfy.fix_encoding(text)
    return text


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def may_have_han(raw: str) -> bool:
    """False only when `clean_text(raw)` cannot contain Han characters: a cheap pre-check."""
    if "&" in raw and "#" in raw:
        return True  # a numeric character reference (perhaps escaped twice) may name one
    if raw.isascii():
        return False
    return _HAN_SOURCE.search(raw) is not None or _MOJIBAKE_HINT.search(raw) is not None


def is_chinese(text: str) -> bool:
    """Chinese when Han characters outnumber Latin words (titles mix in Latin names and units)."""
    if text.isascii() or _HAN.search(text) is None:
        return False
    latin_words = len(_LATIN_WORD.findall(text))
    return latin_words == 0 or any(
        count >= latin_words for count, _ in enumerate(_HAN.finditer(text), start=1)
    )


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC); text without Han characters is returned as is."""
    return _t2s().convert(text) if has_han(text) else text


def fold_query(text: str) -> str:
    """The same folding the decoder applies to indexed text, for a user's query."""
    return to_simplified(clean_text(text) or "")
