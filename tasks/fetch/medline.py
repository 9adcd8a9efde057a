"""PubMed/MEDLINE XML (baseline and update files, efetch answers): one record per
`PubmedArticle` or `PubmedBookArticle`, a `Deletion` per `DeleteCitation`.

The file is streamed: each record element is cut out of the byte stream and parsed alone, so
a baseline file of 30,000 articles never sits in memory whole, and a malformed record costs
that record only (a rejection naming its line), never the rest of the file. Titles and
abstracts are read as text here, where the XML says exactly what is markup: inline `<i>`,
`<sup>`, `<sub>` and MathML give their text, and an `&lt;` is a `<` that stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree

from scholarflow.paper.models import RawRecord
from tasks.fetch.deletions import Deletion

_START = re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]")
_END = {
    name: re.compile(rb"</" + name + rb"\s*>")
    for name in (b"PubmedArticle", b"PubmedBookArticle", b"DeleteCitation")
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
# Keep only this much of a stream that holds no record start yet (a tag may straddle lines).
_TAIL = 64


def medline_records(source: str, lines: Iterable[bytes]) -> Iterator[RawRecord | Deletion]:
    """Every record and deletion of a PubMed XML stream, located by its place in the file and
    the line it starts on (PubMed's own files often hold a whole set on one line)."""
    buffer = b""
    line = 1  # the line `buffer` starts on
    found = 0
    for block in _blocks(lines):
        buffer += block
        pos = 0
        counted, at_line = 0, line  # the line at offset `counted`, counted forwards only

        def line_at(data: bytes, offset: int) -> int:
            nonlocal counted, at_line
            at_line += data.count(b"\n", counted, offset)
            counted = offset
            return at_line

        while (start := _START.search(buffer, pos)) is not None:
            name = start.group(1)
            end = _END[name].search(buffer, start.end())
            following = _START.search(buffer, start.end())
            if following is not None and (end is None or following.start() < end.start()):
                found += 1
                where = f"record {found} (line {line_at(buffer, start.start())})"
                yield _broken(source, where, buffer[start.start() : following.start()], name)
                pos = following.start()
                continue
            if end is None:
                break
            found += 1
            where = f"record {found} (line {line_at(buffer, start.start())})"
            yield _record(source, where, buffer[start.start() : end.end()], name)
            pos = end.end()
        else:
            pos = max(len(buffer) - _TAIL, pos)
        line = line_at(buffer, pos)
        buffer = buffer[pos:]
    start = _START.search(buffer)
    if start is not None:
        at = line + buffer.count(b"\n", 0, start.start())
        where = f"record {found + 1} (line {at})"
        yield _broken(source, where, buffer[start.start() :], start.group(1), "cut off")
    elif not found:
        yield RawRecord(
            source,
            "document",
            raw=buffer[-500:].decode("utf-8", "replace"),
            error="not PubMed XML (no PubmedArticle, PubmedBookArticle or DeleteCitation)",
        )


def _blocks(lines: Iterable[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """The stream in blocks of about `size` bytes: a record spans many lines, and joining a
    block at a time costs less than growing the buffer a line at a time."""
    pending: list[bytes] = []
    held = 0
    for line in lines:
        pending.append(line)
        held += len(line)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def pubmed_records(
    source: str, lines: Iterable[bytes], deletions: list[Deletion] | None
) -> Iterator[RawRecord]:
    """The records of a PubMed XML stream; its deletions go to `deletions`, or, for a caller
    that keeps none, each becomes a rejected record (`deletion not applied`): never dropped."""
    for item in medline_records(source, lines):
        if isinstance(item, RawRecord):
            yield item
        elif deletions is not None:
            deletions.append(item)
        else:
            yield RawRecord(
                source,
                item.location,
                raw=" ".join(item.ids),
                error="deletion not applied",
                detail=f"PubMed withdraws PMID {', '.join(item.ids)}; this run applies none",
                format="medline",
            )


def reparse_medline(source: str, location: str, data: bytes) -> list[RawRecord]:
    """A dead-lettered record read again from its stored XML."""
    records = [r for r in medline_records(source, [data]) if isinstance(r, RawRecord)]
    for record in records:
        record.location = location
    return records


def _broken(
    source: str, location: str, data: bytes, name: bytes, how: str = "not closed"
) -> RawRecord:
    return RawRecord(
        source,
        location,
        raw=data.decode("utf-8", "replace"),
        raw_bytes=data,
        error="malformed PubMed XML",
        detail=f"<{name.decode()}> {how} before the next record",
        format="medline",
    )


def _record(source: str, location: str, data: bytes, name: bytes) -> RawRecord | Deletion:
    try:
        element = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        detail = f"{exc.msg} (line {exc.lineno} of the record)" if exc.lineno else exc.msg
        return RawRecord(
            source,
            location,
            raw=data.decode("utf-8", "replace"),
            raw_bytes=data,
            error="malformed PubMed XML",
            detail=detail,
            format="medline",
        )
    if name == b"DeleteCitation":
        return Deletion(source, location, [_text(p) for p in element.iter("PMID") if _text(p)])
    return RawRecord(source, location, payload=_payload(element), format="medline")


def _payload(element: Any) -> dict[str, Any]:
    """The fields of one article as plain data (texts already read out of their markup)."""
    citation = element.find("MedlineCitation")
    if citation is None:  # PubmedBookArticle
        citation = element.find("BookDocument")
    root = citation if citation is not None else element
    article = root.find("Article")
    part = article if article is not None else root
    payload: dict[str, Any] = {
        "kind": element.tag,
        "pmid": _text(root.find("PMID")),
        "title": _text(part.find("ArticleTitle")) or _text(part.find("VernacularTitle")),
        "vernacular_title": _text(part.find("VernacularTitle")),
        "abstract": _sections(part.find("Abstract")),
        "other_abstracts": [
            {"language": other.get("Language"), "text": _sections(other)}
            for other in root.findall("OtherAbstract")
        ],
        "authors": [
            _author(a)
            for a in part.findall("AuthorList/Author") or root.findall("Book/AuthorList/Author")
        ],
        "languages": [_text(lang) for lang in part.findall("Language") if _text(lang)],
        "publication_types": [
            _text(t) for t in part.findall("PublicationTypeList/PublicationType") if _text(t)
        ],
        "keywords": [_text(k) for k in root.findall("KeywordList/Keyword") if _text(k)],
        "mesh": [_text(d) for d in root.findall("MeshHeadingList/MeshHeading/DescriptorName")],
        "ids": _ids(element),
        "elocation": {
            e.get("EIdType", ""): _text(e) for e in part.findall("ELocationID") if _text(e)
        },
        "pages": _text(part.find("Pagination/MedlinePgn")),
        "article_date": _date(part.find("ArticleDate")),
    }
    journal = part.find("Journal")
    if journal is not None:
        payload["journal"] = {
            "title": _text(journal.find("Title")),
            "iso_abbreviation": _text(journal.find("ISOAbbreviation")),
            "issn": [_text(i) for i in journal.findall("ISSN") if _text(i)],
            "volume": _text(journal.find("JournalIssue/Volume")),
            "issue": _text(journal.find("JournalIssue/Issue")),
            "pub_date": _date(journal.find("JournalIssue/PubDate")),
        }
    book = root.find("Book")
    if book is not None:
        payload["book"] = {
            "title": _text(book.find("BookTitle")),
            "publisher": _text(book.find("Publisher/PublisherName")),
            "pub_date": _date(book.find("PubDate")),
        }
        if not payload["title"]:
            payload["title"] = payload["book"]["title"]
    issns = root.findall("MedlineJournalInfo/ISSNLinking")
    if issns and "journal" in payload:
        payload["journal"]["issn"] += [_text(i) for i in issns if _text(i)]
    return payload


def _text(element: Any) -> str:
    """The visible text of an element and its inline markup, whitespace runs as one space."""
    if element is None:
        return ""
    text = element.text if len(element) == 0 else "".join(element.itertext())
    if not text:
        return ""
    if "\n" in text or "\t" in text or "  " in text or "\r" in text:
        return " ".join(text.split())
    return text.strip()


def _sections(abstract: Any) -> list[dict[str, str]]:
    if abstract is None:
        return []
    sections = [
        {"label": text.get("Label") or "", "text": _text(text)}
        for text in abstract.findall("AbstractText")
    ]
    return [s for s in sections if s["text"] or s["label"]]


_AUTHOR_PARTS = {
    "LastName": "last",
    "ForeName": "fore",
    "Initials": "initials",
    "Suffix": "suffix",
    "CollectiveName": "collective",
}


def _author(author: Any) -> dict[str, Any]:
    """One pass over the author's children: a long author list is most of a record."""
    found: dict[str, Any] = {"orcid": None, "affiliations": []}
    for child in author:
        tag = child.tag
        if tag in _AUTHOR_PARTS:
            found[_AUTHOR_PARTS[tag]] = _text(child)
        elif tag == "AffiliationInfo":
            found["affiliations"] += [_text(a) for a in child if a.tag == "Affiliation"]
        elif tag == "Identifier" and child.get("Source") == "ORCID" and found["orcid"] is None:
            found["orcid"] = _text(child)
    found["affiliations"] = [a for a in found["affiliations"] if a]
    return found


def _ids(element: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    lists = (
        "PubmedData/ArticleIdList",
        "PubmedBookData/ArticleIdList",
        "BookDocument/ArticleIdList",
    )
    found = (article_id for path in lists for article_id in element.iterfind(f"{path}/ArticleId"))
    for article_id in found:
        kind = article_id.get("IdType", "")
        if kind and kind not in ids and _text(article_id):
            ids[kind] = _text(article_id)
    return ids


def _date(element: Any) -> dict[str, str] | None:
    if element is None:
        return None
    parts = {
        key: _text(element.find(tag))
        for key, tag in (
            ("year", "Year"),
            ("month", "Month"),
            ("day", "Day"),
            ("medline_date", "MedlineDate"),
        )
    }
    return {key: value for key, value in parts.items() if value} or None
