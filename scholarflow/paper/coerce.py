"""Lenient coercions for the aggregator's loosely typed fields.

Each function takes whatever the feed sent and returns a clean value or None; none raises.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from scholarflow.paper.models import Precision, PublishedDate
from scholarflow.paper.text import repair_mojibake

_BLANKS = frozenset({"", "-", "--", "n/a", "na", "none", "null", "nan", "无", "暂无"})
_LONGEST_BLANK = max(map(len, _BLANKS))
_TRUE = frozenset({"true", "yes", "y", "1", "t", "是", "open"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "否", "closed"})
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:[T ].*)?$")
_TEXT_DATE_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %Y", "%B %Y")
_CN_DATE = re.compile(r"^(\d{4})年(?:(\d{1,2})月(?:(\d{1,2})日)?)?$")
_ORCID = re.compile(r"(\d{4}-?\d{4}-?\d{4}-?\d{3}[\dXx])")


def blank_to_none(value: Any) -> Any:
    """`" "`, `""`, `"N/A"` and friends become None; other text is repaired (mojibake, before
    NFKC would scramble it) and NFKC-folded; everything else passes through."""
    return _text(value) if isinstance(value, str) else value


def _text(value: str) -> str | None:
    if not value.isascii():  # ASCII is never mojibake, and NFKC leaves it as it is
        value = unicodedata.normalize("NFKC", repair_mojibake(value))
    stripped = value.strip()
    if len(stripped) > _LONGEST_BLANK:  # lower() never shortens: no need to fold long text
        return stripped
    return None if stripped.lower() in _BLANKS else stripped


def to_float(value: Any) -> float | None:
    value = blank_to_none(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN is not a number we keep
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value.replace(",", ""))
    return None


def to_int(value: Any) -> int | None:
    number = to_float(value)
    return int(number) if number is not None and number.is_integer() else None


def to_bool(value: Any) -> bool | None:
    value = blank_to_none(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return bool(value)
    lowered = str(value).lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def to_text(value: Any) -> str | None:
    if isinstance(value, str):  # the common case, one call deep: decoding makes dozens a record
        return _text(value)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def to_orcid(value: Any) -> str | None:
    """An ORCID iD as `0000-0002-1825-0097`, from a bare iD (dashes or not) or an orcid.org
    URL, as every source writes it."""
    match = _ORCID.search(to_text(value) or "")
    if match is None:
        return None
    digits = match.group(1).replace("-", "").upper()
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def to_date(value: Any) -> PublishedDate | None:
    """A date with the precision the source gave: `2025`, `2025-09`, `2025-09-17`,
    `Sep 17, 2025`, `2025年9月`. Impossible dates (month 13, Feb 30) are None."""
    text = to_text(value)
    if text is None:
        return None
    match = _ISO_DATE.match(text) or _CN_DATE.match(text)
    if match:
        year, month, day = match.groups()  # the year is never optional in either pattern
        return _make_date(int(year), int(month) if month else None, int(day) if day else None)
    for fmt in _TEXT_DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        precision = Precision.DAY if "%d" in fmt else Precision.MONTH
        return PublishedDate(value=parsed, precision=precision)
    return None


def _make_date(year: int, month: int | None, day: int | None) -> PublishedDate | None:
    if not 1000 <= year <= 2200:
        return None
    try:
        if day is not None and month is not None:
            return PublishedDate(value=date(year, month, day), precision=Precision.DAY)
        if month is not None:
            return PublishedDate(value=date(year, month, 1), precision=Precision.MONTH)
        return PublishedDate(value=date(year, 1, 1), precision=Precision.YEAR)
    except ValueError:
        return None
