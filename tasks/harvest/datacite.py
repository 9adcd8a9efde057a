"""DataCite metadata (kernel 3 and 4, the `datacite` prefix Zenodo, DSpace and Invenio offer):
the `<resource>` element of an OAI-PMH record read into plain data for the `datacite` decoder
(tasks/decode/datacite.py).

Richer than Dublin Core: titles with their language and type, creators split into given and
family names with their ORCID iDs and affiliations, descriptions typed (`Abstract`, `Other`),
the DOI apart from the other identifiers, typed dates, subjects with their scheme, the
resource type. Elements are matched by local name, so kernel 3 and 4 (and a resource wrapped in
`oai_datacite`'s `payload`) read alike. Texts are read as the XML gives them: an escaped `&lt;`
is a `<` that stays.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def datacite_metadata(body: Any) -> dict[str, Any]:
    """The resource under an OAI-PMH record's `<metadata>` element, as plain data."""
    resource = body if _name(body) == "resource" else _find_resource(body)
    if resource is None:
        return {}
    groups = _children(resource)

    def listed(group: str, item: str) -> list[Any]:
        return [c for parent in groups.get(group, []) for c in parent if _name(c) == item]

    identifier = _first(groups, "identifier")
    resource_type = _first(groups, "resourceType")
    return {
        "identifier": {
            "type": identifier.get("identifierType") if identifier is not None else None,
            "value": _text(identifier),
        },
        "titles": [_texts_with(t, "titleType") for t in listed("titles", "title")],
        "creators": [_person(c, "creator") for c in listed("creators", "creator")],
        "contributors": [
            {**_person(c, "contributor"), "type": c.get("contributorType")}
            for c in listed("contributors", "contributor")
        ],
        "descriptions": [
            _texts_with(d, "descriptionType") for d in listed("descriptions", "description")
        ],
        "subjects": [
            {"text": _text(s), "scheme": s.get("subjectScheme")}
            for s in listed("subjects", "subject")
        ],
        "dates": [{"type": d.get("dateType"), "value": _text(d)} for d in listed("dates", "date")],
        "alternate_identifiers": [
            {"type": a.get("alternateIdentifierType"), "value": _text(a)}
            for a in listed("alternateIdentifiers", "alternateIdentifier")
        ],
        "publisher": _text(_first(groups, "publisher")),
        "publication_year": _text(_first(groups, "publicationYear")),
        "language": _text(_first(groups, "language")),
        "version": _text(_first(groups, "version")),
        "resource_type": {
            "general": resource_type.get("resourceTypeGeneral")
            if resource_type is not None
            else None,
            "text": _text(resource_type),
        },
    }


def _person(element: Any, role: str) -> dict[str, Any]:
    """A creator or contributor: name, given and family names, ORCID iD, affiliations."""
    parts = _children(element)
    orcid = next(
        (
            _text(n)
            for n in parts.get("nameIdentifier", [])
            if (n.get("nameIdentifierScheme") or "").upper() == "ORCID"
        ),
        None,
    )
    return {
        "name": _text(_first(parts, f"{role}Name")),
        "given": _text(_first(parts, "givenName")),
        "family": _text(_first(parts, "familyName")),
        "orcid": orcid,
        "affiliations": [a for a in map(_text, parts.get("affiliation", [])) if a],
    }


def _texts_with(element: Any, kind: str) -> dict[str, Any]:
    """A title or description: its text, language (`xml:lang`) and type."""
    return {"text": _text(element), "lang": element.get(XML_LANG), "type": element.get(kind)}


def _find_resource(body: Any) -> Any:
    return next((e for e in body.iter() if _name(e) == "resource"), None)


def _children(element: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for child in element:
        if isinstance(child.tag, str):
            groups.setdefault(_name(child), []).append(child)
    return groups


def _first(groups: dict[str, list[Any]], name: str) -> Any:
    found = groups.get(name)
    return found[0] if found else None


def _name(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _text(element: Any) -> str | None:
    """The element's text with its inline children's, as written (line breaks kept: a
    description's paragraphs); None when blank."""
    if element is None:
        return None
    text = "".join(element.itertext())
    return text if text.strip() else None
