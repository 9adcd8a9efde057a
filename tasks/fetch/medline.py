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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lxml import etree

from scholarflow.paper.models import RawRecord
from tasks.fetch.deletions import Deletion
from tasks.fetch.text_files import rejected_bytes, take_bytes

_START = re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]")
_START_TAGS = (b"<PubmedArticle", b"<PubmedBookArticle", b"<DeleteCitation")
_END_REST = re.compile(rb"\s*>")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, collect_ids=False
)
# Lists inside an article that no payload field reads (see `_unread_cut`).
_UNREAD = [
    (b"<" + name, b"</" + name + b">")
    for name in (b"CommentsCorrectionsList", b"History", b"ReferenceList")
]
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
            closed, end = _close(buffer, name, start.end())
            following = _next_start(buffer, start.end(), closed)
            if following is not None:
                found += 1
                where = f"record {found} (line {line_at(buffer, start.start())})"
                yield _broken(source, where, buffer[start.start() : following], name)
                pos = following
                continue
            if end < 0:
                break
            found += 1
            where = f"record {found} (line {line_at(buffer, start.start())})"
            yield _record(source, where, buffer[start.start() : end], name)
            pos = end
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


def _close(buffer: bytes, name: bytes, at: int) -> tuple[int, int]:
    """Where the end tag `</name>` (or `</name >`) after `at` starts and ends; (len, -1)
    when the buffer does not hold it (yet). A plain search: the tag follows a whole record."""
    tag = b"</" + name
    begin = buffer.find(tag, at)
    while begin >= 0:
        match = _END_REST.match(buffer, begin + len(tag))
        if match is not None:
            return begin, match.end()
        begin = buffer.find(tag, begin + 1)  # `</PubmedArticleSet>`
    return len(buffer), -1


def _next_start(buffer: bytes, at: int, before: int) -> int | None:
    """Where another record starts between `at` and `before` (a record not closed before the
    next one), or None. Plain searches first: a whole record is scanned by the regex only when
    one of the tags is in it."""
    if all(buffer.find(tag, at, before) < 0 for tag in _START_TAGS):
        return None
    found = _START.search(buffer, at, before)
    return found.start() if found is not None else None


def _blocks(lines: Iterable[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """The stream in blocks of about `size` bytes: a record spans many lines, and joining a
    block at a time costs less than growing the buffer a line at a time. (A file read in
    blocks already, tasks/fetch/__init__.py, passes through as it is.)"""
    stream = iter(lines)
    while taken := take_bytes(stream, size):
        yield taken[0] if len(taken) == 1 else b"".join(taken)


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
    detail = f"<{name.decode()}> {how} before the next record"
    return rejected_bytes(source, location, data, "malformed PubMed XML", detail, "medline")


def _record(source: str, location: str, data: bytes, name: bytes) -> RawRecord | Deletion:
    try:
        element = _parse(data)
    except etree.XMLSyntaxError as exc:
        detail = f"{exc.msg} (line {exc.lineno} of the record)" if exc.lineno else exc.msg
        return rejected_bytes(source, location, data, "malformed PubMed XML", detail, "medline")
    if name == b"DeleteCitation":
        return Deletion(source, location, _all_texts(element.iter("PMID")))
    return RawRecord(source, location, payload=_payload(element), format="medline")


def _parse(data: bytes) -> Any:
    """The record's element, parsed without the lists no field reads; a record that does not
    parse so is parsed whole, so its error names the line of the record as it stands (and a
    cut that went wrong, inside a CDATA section, costs nothing)."""
    try:
        return etree.fromstring(_unread_cut(data), _PARSER)
    except etree.XMLSyntaxError:
        return etree.fromstring(data, _PARSER)


def _unread_cut(data: bytes) -> bytes:
    """The record without the lists no field is read from (references, comments and
    corrections, history: a sixth of a typical article's bytes and more of its elements),
    which then cost no parsing. Each is cut from its first start tag to its last end tag, so
    nested or repeated lists go whole; the fields read lie outside them. The record's own
    bytes are what a rejection keeps."""
    for start, end in _UNREAD:
        at = data.find(start)
        if at < 0:
            continue
        close = data.rfind(end)
        if close > at:
            data = data[:at] + data[close + len(end) :]
    return data


class _Children:
    """An element's children by tag, gathered in one pass: every lookup after it is a dict
    access (lxml's `find` reads its path in Python on every call, and an article asks for
    some thirty)."""

    __slots__ = ("groups",)

    def __init__(self, element: Any) -> None:
        self.groups: dict[Any, list[Any]] = {}
        if element is not None:
            for child in element:
                self.groups.setdefault(child.tag, []).append(child)

    def all(self, tag: str) -> list[Any]:
        return self.groups.get(tag, [])

    def first(self, tag: str) -> Any:
        found = self.groups.get(tag)
        return found[0] if found else None

    def below(self, *path: str) -> list[Any]:
        """What `findall("A/B/C")` finds: every C in every B in every A, in document order."""
        found = self.all(path[0])
        for tag in path[1:]:
            found = [child for parent in found for child in parent if child.tag == tag]
        return found

    def text(self, *path: str) -> str:
        """The text of the first element at `path`, as `_text(find("A/B"))`."""
        found = self.below(*path) if len(path) > 1 else self.all(path[0])
        return _text(found[0]) if found else ""


def _payload(element: Any) -> dict[str, Any]:
    """The fields of one article as plain data (texts already read out of their markup)."""
    top = _Children(element)
    citation = top.first("MedlineCitation")
    if citation is None:  # PubmedBookArticle
        citation = top.first("BookDocument")
    root = _Children(citation) if citation is not None else top
    article = root.first("Article")
    part = _Children(article) if article is not None else root
    payload: dict[str, Any] = {
        "kind": element.tag,
        "pmid": root.text("PMID"),
        "title": part.text("ArticleTitle") or part.text("VernacularTitle"),
        "vernacular_title": part.text("VernacularTitle"),
        "abstract": _sections(part.first("Abstract")),
        "other_abstracts": [
            {"language": other.get("Language"), "text": _sections(other)}
            for other in root.all("OtherAbstract")
        ],
        "authors": [
            _author(a) for a in part.below("AuthorList", "Author") or root.below(*_BOOK_AUTHORS)
        ],
        "languages": _all_texts(part.all("Language")),
        "publication_types": _all_texts(part.below("PublicationTypeList", "PublicationType")),
        "keywords": _all_texts(root.below("KeywordList", "Keyword")),
        "mesh": [_text(d) for d in root.below("MeshHeadingList", "MeshHeading", "DescriptorName")],
        "ids": _ids(top),
        "elocation": {
            e.get("EIdType", ""): text for e in part.all("ELocationID") if (text := _text(e))
        },
        "pages": part.text("Pagination", "MedlinePgn"),
        "article_date": _date(part.first("ArticleDate")),
    }
    journal = part.first("Journal")
    if journal is not None:
        found = _Children(journal)
        payload["journal"] = {
            **_texts(found, _JOURNAL),
            "issn": _all_texts(found.all("ISSN")),
            "pub_date": _date(next(iter(found.below("JournalIssue", "PubDate")), None)),
        }
    book = root.first("Book")
    if book is not None:
        found = _Children(book)
        payload["book"] = {**_texts(found, _BOOK), "pub_date": _date(found.first("PubDate"))}
        if not payload["title"]:
            payload["title"] = payload["book"]["title"]
    issns = root.below("MedlineJournalInfo", "ISSNLinking")
    if issns and "journal" in payload:
        payload["journal"]["issn"] += _all_texts(issns)
    return payload


_JOURNAL = {
    "title": ("Title",),
    "iso_abbreviation": ("ISOAbbreviation",),
    "volume": ("JournalIssue", "Volume"),
    "issue": ("JournalIssue", "Issue"),
}
_BOOK_AUTHORS = ("Book", "AuthorList", "Author")
_BOOK = {"title": ("BookTitle",), "publisher": ("Publisher", "PublisherName")}
_DATE = {"year": ("Year",), "month": ("Month",), "day": ("Day",), "medline_date": ("MedlineDate",)}


def _texts(children: _Children, paths: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The text at each path among `children`, by key."""
    return {key: children.text(*path) for key, path in paths.items()}


def _all_texts(elements: Iterable[Any]) -> list[str]:
    """The texts of the elements that have one."""
    return [text for element in elements if (text := _text(element))]


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
        for text in abstract
        if text.tag == "AbstractText"
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


def _ids(top: _Children) -> dict[str, str]:
    ids: dict[str, str] = {}
    lists = ("PubmedData", "PubmedBookData", "BookDocument")
    for article_id in (i for name in lists for i in top.below(name, "ArticleIdList", "ArticleId")):
        kind = article_id.get("IdType", "")
        if kind and kind not in ids and (text := _text(article_id)):
            ids[kind] = text
    return ids


def _date(element: Any) -> dict[str, str] | None:
    if element is None:
        return None
    found = _texts(_Children(element), _DATE)
    return {key: value for key, value in found.items() if value} or None
