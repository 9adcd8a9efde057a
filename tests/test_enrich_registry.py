"""Enrichment end to end below the flow: the engine's DOI cache, a local registry server, the
merge rules that put registry data on a Paper."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.client import connect
from scholarflow.paper.models import Author, EnrichmentStatus, Journal, Paper
from scholarflow.registry import DoiCache, Lookup, RegistryClient, Resolver
from scholarflow.settings import Settings
from tasks.enrich import apply_lookup, enrich_papers
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer

FIGSHARE = "10.6084/m9.figshare.4724797"


def paper(doi: str, **fields: object) -> Paper:
    return Paper(**{"id": doi, "doi": doi, "title_en": "A title from the source", **fields})


def resolver_for(settings: Settings) -> Resolver:
    return Resolver(settings, DoiCache(connect(settings), settings), RegistryClient(settings))


# doi → publisher, ISSNs, licence, cited by, references, (family, ORCID) or None, abstract start
EXPECTED = {
    "10.1136/jclinpath-2020-206745": (
        "BMJ",
        ["0021-9746", "1472-4146"],
        "http://creativecommons.org/licenses/by-nc/4.0/",
        10,
        36,
        ("Xuexi Yang", "0000-0002-3513-6501"),
        "Background\nThe absence of high-quality next-generation sequencing",
    ),
    "10.1136/esmoopen-2020-000776": (
        "Elsevier BV",
        ["2059-7029"],
        "https://www.elsevier.com/tdm/userlicense/1.0/",
        16,
        28,
        ("Satoru Iwasa", "0000-0003-3863-9582"),
        None,
    ),
    "10.1038/srep16696": (
        "Springer Science and Business Media LLC",
        ["2045-2322"],
        "https://creativecommons.org/licenses/by/4.0",
        110,
        62,
        None,
        "Oligomers of alpha-synuclein are toxic to cells",
    ),
    "10.1371/journal.pone.0033693": (
        "Public Library of Science (PLoS)",
        ["1932-6203"],
        "http://creativecommons.org/licenses/by/4.0/",
        72,
        70,
        None,
        None,
    ),
    "10.3892/ijo_00000353": ("Spandidos Publications", ["1019-6439"], None, 4, 0, None, None),
}


@pytest.mark.parametrize("doi", sorted(EXPECTED))
def test_crossref_fields_land_on_the_paper(
    online: Settings, registry: FixtureServer, doi: str
) -> None:
    publisher, issn, licence, cited_by, references, orcid, abstract = EXPECTED[doi]
    registry.serve_work(doi, CROSSREF_WORKS[doi])
    source = paper(doi, authors=[Author(name="Satoru Iwasa"), Author(name="Xuexi Yang")])

    [enriched] = enrich_papers([source], resolver_for(online))

    assert enriched.enrichment.status is EnrichmentStatus.ENRICHED
    assert enriched.enrichment.source == "crossref"
    assert enriched.journal.publisher == publisher
    assert enriched.journal.issn == issn
    assert enriched.license_url == licence
    assert (enriched.cited_by_count, enriched.references_count) == (cited_by, references)
    orcids = {a.name: a.orcid for a in enriched.authors if a.orcid}
    assert orcids == (dict([orcid]) if orcid else {})
    if abstract:
        assert enriched.abstract_en and enriched.abstract_en.startswith(abstract)
        assert "<" not in enriched.abstract_en and "jats" not in enriched.abstract_en
    else:
        assert enriched.abstract_en is None
    assert enriched.title_en == "A title from the source"  # the source's title stays …
    [conflict] = enriched.conflicts  # … and the registry's differing one is kept beside it
    assert conflict.field == "title_en"
    assert conflict.source_value == "A title from the source"
    assert conflict.registry_value != conflict.source_value


def test_registry_abstract_only_where_the_source_has_none(
    online: Settings, registry: FixtureServer
) -> None:
    doi = "10.1038/srep16696"
    registry.serve_work(doi, CROSSREF_WORKS[doi])
    english = paper(doi, abstract_en="The source's own abstract.", languages=["en"])
    chinese = paper(
        doi, id="zh", title_en=None, title_zh="中文标题", abstract_zh="中文摘要。", languages=["zh"]
    )

    kept, filled = enrich_papers([english, chinese], resolver_for(online))

    assert kept.abstract_en == "The source's own abstract."
    assert filled.abstract_zh == "中文摘要。"
    assert filled.abstract_en and filled.abstract_en.startswith("Oligomers of alpha-synuclein")
    assert filled.title_en and filled.title_en.startswith("Single-molecule FRET studies")
    assert filled.languages == ["en", "zh"]
    assert filled.conflicts == []  # nothing to disagree about: the source had no English title


def test_csl_json_from_doi_org_lands_on_the_paper() -> None:
    item = json.loads(
        (
            FIXTURES / "doi" / "doiorg_csljson_datacite_10.6084_m9.figshare.4724797_manubot.json"
        ).read_text()
    )[0]
    lookup = Lookup(FIGSHARE, "found", "doi.org", body=item, fetched_at=datetime.now(UTC))
    enriched = apply_lookup(paper(FIGSHARE, title_en=None, title_zh="论文"), lookup)
    assert enriched.title_en == (
        "The hetnet awakens: understanding complex diseases through data integration and "
        "open science"
    )
    assert enriched.journal.publisher == "Figshare"
    assert enriched.authors == [Author(name="Daniel Himmelstein")]
    assert "Computational Biology" in enriched.subjects  # the double space is folded
    assert enriched.published and enriched.published.year == 2017
    assert enriched.abstract_en and enriched.abstract_en.startswith(
        "The PhD Dissertation of Daniel S. Himmelstein."
    )
    assert "<b>" not in enriched.abstract_en and "&amp;" not in enriched.abstract_en


def test_registry_owned_fields_take_the_newest_answer() -> None:
    doi = "10.1136/jclinpath-2020-206745"
    work = json.loads((FIXTURES / "doi" / CROSSREF_WORKS[doi]).read_text())
    older = paper(
        doi,
        cited_by_count=3,
        license_url="http://example.org/old-licence",
        journal=Journal(name="J Clin Pathol", volume="99", issn=["0021-9746"], publisher="Old"),
    )
    fresh = apply_lookup(older, Lookup(doi, "found", "crossref", body=work))
    assert fresh.cited_by_count == 10  # counts, licence and publisher: the registry's latest
    assert fresh.license_url == "http://creativecommons.org/licenses/by-nc/4.0/"
    assert fresh.journal.publisher == "BMJ"
    assert fresh.journal.volume == "99"  # the source's values are never overwritten …
    assert fresh.journal.name == "J Clin Pathol"
    assert fresh.journal.issn == ["0021-9746", "1472-4146"]  # … lists gain what they lack
    assert {c.field for c in fresh.conflicts} == {"title_en", "journal.name"}


# --- the cache -------------------------------------------------------------------------------


# --- an unreachable registry -----------------------------------------------------------------


def test_crossref_csl_json_with_a_jats_abstract() -> None:
    """The CSL-JSON doi.org content negotiation returns for a Crossref DOI (its transform)."""
    doi = "10.1126/science.169.3946.635"
    item = json.loads(
        (
            FIXTURES / "doi" / "crossref_transform_csljson_10.1126_science.169.3946.635.json"
        ).read_text()
    )
    lookup = Lookup(doi, "found", "doi.org", body=item, fetched_at=datetime.now(UTC))
    enriched = apply_lookup(paper(doi, title_en=None, abstract_zh="水的结构。"), lookup)
    assert enriched.title_en == "The Structure of Ordinary Water"
    assert enriched.abstract_en and enriched.abstract_en.startswith(
        "The train of thought pursued in this article"
    )
    assert "jats" not in enriched.abstract_en
    assert enriched.journal.publisher.startswith("American Association for the Advancement")
    assert (enriched.journal.pages, enriched.journal.volume) == ("635-641", "169")
    assert enriched.cited_by_count == 92
    assert enriched.authors == [Author(name="Henry S. Frank")]


def test_papers_without_doi_or_with_lookups_off_say_so() -> None:
    no_doi = Paper(id="sf-1", title_en="T")
    results = enrich_papers([no_doi, paper("10.1000/x")], None)
    assert [p.enrichment.status for p in results] == [
        EnrichmentStatus.NO_DOI,
        EnrichmentStatus.DISABLED,
    ]


# Registry answers as lookups find them: Crossref works, and CSL-JSON items from doi.org.
ANSWERS = {
    **{doi: ("crossref", name) for doi, name in CROSSREF_WORKS.items()},
    FIGSHARE: ("doi.org", "doiorg_csljson_datacite_10.6084_m9.figshare.4724797_manubot.json"),
    "10.1126/science.169.3946.635": (
        "doi.org",
        "crossref_transform_csljson_10.1126_science.169.3946.635.json",
    ),
}


def source_papers(doi: str, work: dict) -> list[Paper]:
    """Papers that exercise each merge rule against `work`: gaps to fill, titles and journal
    names to disagree with, authors to find ORCID iDs for, no authors at all."""
    named = [
        Author(name=f"{a.get('given', '')} {a['family']}".strip())
        for a in work.get("author") or []
        if a.get("family")
    ]
    return [
        paper(doi),
        paper(doi, title_en=None, title_zh="中文标题", abstract_zh="中文摘要。", authors=named),
        paper(
            doi,
            abstract_en="The source's abstract.",
            authors=[*named[:2], Author(name="A Nobody", orcid="0000-0002-1825-0097")],
            journal=Journal(name="Some Journal", volume="1", issn=["0000-0000"]),
            languages=["en"],
        ),
    ]


@pytest.mark.parametrize("doi", sorted(ANSWERS))
def test_the_cached_answer_enriches_as_the_whole_answer_does(
    settings: Settings, es: Elasticsearch, doi: str
) -> None:
    """What lookups leave in the cache index changes nothing a merge produces."""
    source, name = ANSWERS[doi]
    body = json.loads((FIXTURES / "doi" / name).read_text())
    body = body[0] if isinstance(body, list) else body
    DoiCache(es, settings).put_many([Lookup(doi, "found", source, body=body)])

    cached = DoiCache(es, settings).get_many([doi])[doi]
    whole = Lookup(doi, "found", source, body, cached.fetched_at, from_cache=True)

    for source_paper in source_papers(doi, body.get("message", body)):
        assert apply_lookup(source_paper, cached) == apply_lookup(source_paper, whole)


def test_a_chinese_registry_abstract_fills_where_the_source_has_only_english() -> None:
    work = {"abstract": "<jats:p>水的結構。</jats:p>", "title": ["Water"]}
    source = paper("10.1000/x", abstract_en="An English abstract.", languages=["en"])
    enriched = apply_lookup(source, Lookup("10.1000/x", "found", "doi.org", body=work))
    assert (enriched.abstract_en, enriched.abstract_zh) == ("An English abstract.", "水的结构。")
    assert enriched.languages == ["en", "zh"]


def test_source_orcids_stay_and_unmatched_authors_get_none() -> None:
    work = {
        "author": [
            {"given": "Ann", "family": "Lee", "ORCID": "https://orcid.org/0000-0001-0000-0001"},
            {"given": "Bo", "family": "Chen", "ORCID": "https://orcid.org/0000-0001-0000-0002"},
        ]
    }
    authors = [
        Author(name="Ann Lee", orcid="0000-0009-0000-0009"),
        Author(name="Bo Chen"),
        Author(name="Cy Wu"),
    ]
    source = paper("10.1000/x", authors=authors)
    enriched = apply_lookup(source, Lookup("10.1000/x", "found", "doi.org", body=work))
    assert [a.orcid for a in enriched.authors] == [
        "0000-0009-0000-0009",
        "0000-0001-0000-0002",
        None,
    ]
