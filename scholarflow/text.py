"""Text clean-up shared by decoding (at ingest) and query building (at search time).

Both sides must fold text the same way, or a Traditional-Chinese query would miss a paper
indexed in Simplified, and a full-width query would miss ASCII text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import opencc
from selectolax.lexbor import LexborHTMLParser

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody td tfoot th thead tr ul "
    "jats:p jats:sec jats:title jats:list-item".split()
)
_DROPPED_TAGS = ["script", "style", "iframe", "noscript", "template", "object", "embed", "svg"]
_MARKUP = re.compile(r"<[a-zA-Z!/]|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# C0/C1 controls except tab and newline, zero-width characters, BOM, bidi marks.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LONE_HAN = re.compile(rf"(?<!{_HAN.pattern}){_HAN.pattern}(?!{_HAN.pattern})")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML (or JATS) fragment, paragraphs on their own lines.

    Inline tags join without spaces so `m<sup>2</sup>` reads `m2`; script, style and frames are
    dropped with their content; entities are decoded, twice when the source escaped them twice.
    """
    tree = LexborHTMLParser(markup)
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


def clean_text(value: str | None) -> str | None:
    """Normalised text, or None when nothing visible is left.

    NFKC folds full-width Latin letters and digits to ASCII and compatibility forms (ligatures,
    superscript digits) to plain ones; invisible and control characters are removed.
    """
    if value is None:
        return None
    text = html_to_text(value) if _MARKUP.search(value) else value
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text).strip()
    return text or None


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def has_lone_han(text: str) -> bool:
    """True when some Han character stands alone (`蛛`, `SLE 狼`): a one-character word."""
    return _LONE_HAN.search(text) is not None


def is_chinese(text: str) -> bool:
    """Chinese when Han characters outnumber Latin words (titles mix in Latin names and units)."""
    han = len(_HAN.findall(text))
    return han > 0 and han >= len(_LATIN_WORD.findall(text))


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC); text without Han characters is returned as is."""
    return _t2s().convert(text) if has_han(text) else text


def fold_query(text: str) -> str:
    """The same folding the decoder applies to indexed text, for a user's query."""
    return to_simplified(clean_text(text) or "")
