"""Build the canonical `Paper` from what a record's shapes offer, whatever the shapes were."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scholarflow.paper import coerce
from scholarflow.paper.coerce import to_orcid, to_text
from scholarflow.paper.doi import find_doi, normalize_doi
from scholarflow.paper.models import Paper, RawRecord
from scholarflow.paper.text import PlainText, clean_text, is_chinese, may_have_han, to_simplified

# Longest text kept per field; longer abstracts are cut and the paper flagged `text_truncated`.
MAX_TEXT_CHARS = 50_000
# Raw (HTML) text beyond this is cut before cleaning, so a 5 MB abstract costs no more than a
# long one; markup rarely takes more than half of a field.
MAX_RAW_CHARS = 2 * MAX_TEXT_CHARS
# The mapping stores counts as `integer`: a larger count is a feed error, not a count.
MAX_COUNT = 2**31 - 1


class DecodeError(ValueError):
    """A record that has nothing we can index."""


@dataclass(slots=True)
class Reading:
    """What a record's shapes offer, best first: title and abstract texts (sorted by script
    here), and the JSON objects every other field is read from."""

    titles: list[str | None]
    abstracts: list[str | None]
    layers: tuple[dict[str, Any], ...]


def _identifier(value: Any) -> str | None:
    """An identifier (PMID, PMCID, arXiv id) as text, without blanks."""
    text = to_text(value)
    return text.replace(" ", "") if text else None


def _terms(value: Any) -> list[str]:
    """Keywords as a list of distinct cleaned terms (a string is one term)."""
    items = value if isinstance(value, list) else [value]
    terms = (clean_text(to_text(item), markup=False) for item in items)
    return list(dict.fromkeys(term for term in terms if term))


def build_paper(reading: Reading, record: RawRecord, flags: list[str]) -> Paper:
    """One validated paper from what the record's shapes offer."""
    layers = reading.layers

    # The fields are read straight from the parsed JSON: a record has a few dozen keys of which
    # decoding reads a handful, each coerced only when it is needed.
    def first(key: str, convert: Callable[[Any], Any] = to_text) -> Any:
        """The field from the first layer where it has a value, coerced."""
        for layer in layers:
            if (value := layer.get(key)) is not None and (value := convert(value)) is not None:
                return value
        return None

    title_en, title_zh, traditional = _by_script(reading.titles, flags)
    abstract_en, abstract_zh, traditional_abstract = _by_script(reading.abstracts, flags)
    title = title_en or title_zh
    if not title:
        raise DecodeError("no title in any language")

    doi, doi_text = _doi(layers, flags)
    authors = _authors(first("authors", _as_is))
    published = coerce.to_date(first("publicationDate")) or coerce.to_date(first("EPubDate"))
    quartile = (first("JCR") or "").upper()
    citations = first("citationCount", coerce.to_int)
    if citations is not None and not 0 <= citations <= MAX_COUNT:
        citations = None
        flags.append("invalid_citation_count")
    platform = first("platform")
    url = first("ListUrlMain") or first("url")
    # One validation of the whole paper, nested parts as plain data: cheaper than a model
    # object per author, journal and provenance entry.
    return Paper.model_validate(
        {
            "id": doi or _stable_id(title, authors, published),
            "doi": doi,
            "doi_text": doi_text,
            "doi_source": "source" if doi else None,
            "title_en": title_en,
            "title_zh": title_zh,
            "abstract_en": abstract_en,
            "abstract_zh": abstract_zh,
            "zh_script": _zh_script(title_zh or abstract_zh, traditional or traditional_abstract),
            "authors": authors,
            "journal": _journal(first("journal", _dict_or_none) or {}, first("PeriodicalName")),
            "published": published,
            "publication_type": _publication_type(first("publicationTypes", _as_is)),
            "impact_factor": first("PeriodicalIF", coerce.to_float),
            "jcr_quartile": quartile if quartile in {"Q1", "Q2", "Q3", "Q4"} else None,
            "jcr_subject": first("JCRName"),
            "open_access": first("isOpenAccess", coerce.to_bool),
            "pdf_url": _pdf_url(first("openAccessPdf", _as_is)),
            "citation_count": citations,
            "source_platform": platform,
            "source_url": url,
            "languages": [
                lang
                for lang, text in (("en", title_en or abstract_en), ("zh", title_zh or abstract_zh))
                if text
            ],
            "pmid": first("pmid", _identifier),
            "pmcid": first("pmcid", _identifier),
            "arxiv_id": first("arxiv_id", _identifier),
            "keywords": _terms(first("keywords", _as_is)),
            "language": first("language"),
            "flags": sorted(set(flags)),
            "provenance": [
                {
                    "source": record.source,
                    "location": record.location,
                    "platform": platform,
                    "url": url,
                }
            ],
        }
    )


def _as_is(value: Any) -> Any:
    """Structured fields (authors, types, the PDF link) are read in their own shape."""
    return value


def _dict_or_none(value: Any) -> dict | None:
    return value if isinstance(value, dict) else None


def _by_script(
    candidates: list[str | None], flags: list[str]
) -> tuple[str | None, str | None, bool]:
    """(English text, Simplified-Chinese text, whether the Chinese was Traditional)."""
    english = chinese = None
    traditional = False
    seen: set[str] = set()
    for candidate in candidates:
        if candidate is None:
            continue
        plain = isinstance(candidate, PlainText)
        if len(candidate) > MAX_RAW_CHARS:
            candidate = candidate[:MAX_RAW_CHARS]
            flags.append("text_truncated")
        # Cleaning (HTML, NFKC) is most of decoding's cost: skip candidates that cannot change
        # the outcome (repeats, and text that cannot be Chinese once English is found).
        if candidate in seen or (
            english is not None and (chinese is not None or not may_have_han(candidate))
        ):
            continue
        seen.add(candidate)
        text = clean_text(candidate, markup=False if plain else None)
        if text is None:
            continue
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            flags.append("text_truncated")
        if is_chinese(text):
            if chinese is None:
                chinese = to_simplified(text)
                traditional = chinese != text
        elif english is None:
            english = text
    return english, chinese, traditional


def _zh_script(chinese: str | None, traditional: bool) -> str | None:
    if chinese is None:
        return None
    return "traditional" if traditional else "simplified"


def _doi(layers: tuple[dict[str, Any], ...], flags: list[str]) -> tuple[str | None, str | None]:
    """(normalised DOI, the raw DOI text when it was present but not a valid DOI)."""
    raw_values = [value for layer in layers if (value := to_text(layer.get("doi")))]
    for value in raw_values:
        if doi := normalize_doi(value):
            return doi, None
    for layer in layers:
        for key in ("DOIUrl", "ListUrlMain", "url"):
            if doi := find_doi(to_text(layer.get(key))):
                return doi, None
    if raw_values:
        flags.append("invalid_doi")
        return None, raw_values[0]
    return None, None


_AUTHOR_SEPARATORS = re.compile(r"\s*[;、，；]\s*")


def _authors(value: Any) -> list[dict[str, Any]]:
    """The authors as `Author` data: names, and the ORCID iD and affiliations of an author given
    as an object. Names are folded to Simplified like every other Chinese text, so either
    script finds them."""
    if isinstance(value, str):
        value = clean_text(value) or ""
        parts = (
            _AUTHOR_SEPARATORS.split(value)
            if _AUTHOR_SEPARATORS.search(value)
            else value.split(",")
        )
        return [{"name": name} for name in _simplified([p.strip() for p in parts if p.strip()])]
    if not isinstance(value, list):
        return []
    named = [(name, item) for item in value if (name := _author_name(item))]
    names = _simplified([name for name, _ in named])
    return [_author(name, item) for name, (_, item) in zip(names, named, strict=True)]


def _simplified(names: list[str]) -> list[str]:
    """All of a record's names folded at once (a line each): one conversion, not one a name."""
    if any("\n" in name for name in names):
        return [to_simplified(name) for name in names]
    return to_simplified("\n".join(names)).split("\n") if names else []


def _author(name: str, item: Any) -> dict[str, Any]:
    author: dict[str, Any] = {"name": name}
    if not isinstance(item, dict):
        return author
    if orcid := to_orcid(item.get("orcid")):
        author["orcid"] = orcid
    affiliations = [clean_text(to_text(a), markup=False) for a in item.get("affiliations") or []]
    if affiliations := [a for a in affiliations if a]:
        author["affiliations"] = affiliations
    return author


def _author_name(item: Any) -> str:
    if isinstance(item, dict):
        name = item.get("name") or " ".join(
            str(item[k]) for k in ("given", "family") if item.get(k)
        )
        return clean_text(str(name)) or ""
    return clean_text(to_text(item)) or ""


def _journal(data: dict, periodical_name: str | None) -> dict[str, Any]:
    """The journal; its English and Chinese names may arrive in either key."""
    names = [clean_text(to_text(data.get("name"))), clean_text(periodical_name)]
    english = next((n for n in names if n and not is_chinese(n)), None)
    chinese = next((n for n in names if n and is_chinese(n)), None)
    issns = data.get("issn")
    issn = [text for v in issns if (text := to_text(v))] if isinstance(issns, list) else []
    if not isinstance(issns, list) and (single := to_text(issns)):
        issn = [single]
    return {
        "name": english,
        "name_zh": to_simplified(chinese) if chinese else None,
        "volume": to_text(data.get("volume")),
        "issue": to_text(data.get("issue")),
        "pages": to_text(data.get("pages")),
        "issn": list(dict.fromkeys(issn)),
    }


def _publication_type(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if to_text(v)), None)
    return to_text(value)


def _pdf_url(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("url")
    text = to_text(value)
    return text if text and text.startswith(("http://", "https://")) else None


def _stable_id(title: str, authors: list[dict[str, Any]], published: Any) -> str:
    """An id for papers without a DOI that survives re-ingest and small formatting changes."""
    normalised = re.sub(r"\W+", "", title.casefold())
    first_author = re.sub(r"\W+", "", authors[0]["name"].casefold()) if authors else ""
    year = str(published.year) if published else ""
    digest = hashlib.blake2b(f"{normalised}|{first_author}|{year}".encode(), digest_size=10)
    return f"sf-{digest.hexdigest()}"
