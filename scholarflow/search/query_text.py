"""What a user typed, read by Scholarflow's own small tokenizer: phrases in quotes, years and
ranges of years, and the words left over.

This is no query parser: there are no operators, fields, wildcards or escapes. A quote either
closes a phrase or, left open, is dropped; a year is a token of its own that looks like one. Every
part found here reaches the engine as plain text in a `match`-family query or as numbers in a
`range`, never as syntax (`tests/test_query_text.py`).

- Phrases: text between `"…"`, `“…”`, `「…」` or `『…』` (full-width quotes are folded to `"`
  first). Empty ones and ones without a letter or digit are dropped.
- Years: a token between spaces, the text's ends or Han characters that is a year from 1500 to
  2099 (`2019`, `2019年`), a range of them (`2020-2023`, `2020–2023`, `2020~2023`, `2020至2023`) or
  a range open at one end (`2020-`, `-2015`). Numbers joined to other text (`Tanaka,1985`,
  `1994(Acari`, `COVID-19`, a DOI) are words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUOTES = re.compile(r'"([^"]*)"|“([^”]*)”|「([^」]*)」|『([^』]*)』')
_STRAY_QUOTES = re.compile(r'["“”「」『』]')
_YEAR = r"(?:1[5-9]\d\d|20\d\d)"
_SEPARATOR = r"\s*(?:-|–|—|~|至|到)\s*"
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A year or a range, standing between spaces, the ends of the text or Han characters.
_YEARS = re.compile(
    rf"(?<![^\s{_HAN}])"
    rf"(?:(?P<first>{_YEAR})年?(?:{_SEPARATOR}(?P<last>{_YEAR})?年?)?"
    rf"|(?:{_SEPARATOR})(?P<until>{_YEAR})年?)"
    rf"(?![^\s{_HAN}])"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class QueryText:
    """A query taken apart: `words` for the ordinary matching, the `phrases` that must occur as
    written, and the years asked for (`year_from` / `year_to`, either open)."""

    words: str
    phrases: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None

    @property
    def has_years(self) -> bool:
        return self.year_from is not None or self.year_to is not None


def read_query(text: str) -> QueryText:
    """`"body temperatures" lizards 2019-2021` → words `lizards`, phrase `body temperatures`,
    years 2019 to 2021. The text is expected folded already (`fold_query`)."""
    phrases: list[str] = []

    def take_phrase(match: re.Match[str]) -> str:
        phrase = _SPACES.sub(" ", next(g for g in match.groups() if g is not None)).strip()
        if any(char.isalnum() for char in phrase) and phrase not in phrases:
            phrases.append(phrase)
        return " "

    rest = _STRAY_QUOTES.sub(" ", _QUOTES.sub(take_phrase, text))
    years: list[tuple[int | None, int | None]] = []

    def take_years(match: re.Match[str]) -> str:
        first, last, until = match.group("first", "last", "until")
        if until:
            years.append((None, int(until)))
        elif last:
            low, high = sorted((int(first), int(last)))
            years.append((low, high))
        else:
            closed = match.group(0).rstrip("年").rstrip() == first
            years.append((int(first), int(first) if closed else None))
        return " "

    rest = _YEARS.sub(take_years, rest)
    year_from, year_to = _span(years)
    return QueryText(_SPACES.sub(" ", rest).strip(), tuple(phrases), year_from, year_to)


def _span(years: list[tuple[int | None, int | None]]) -> tuple[int | None, int | None]:
    """Several years typed (`2019 2021`) ask for the span from the first to the last."""
    if not years:
        return None, None
    lows = [low for low, _ in years]
    highs = [high for _, high in years]
    return (
        None if None in lows else min(low for low in lows if low is not None),
        None if None in highs else max(high for high in highs if high is not None),
    )
