"""Corrections and retractions read from Crossref answers (scholarflow/paper/corrections.py): the
paper's own `updated-by`, the `update-to` of cached notices, bad update blocks, and the DOI
cache that keeps what they need. Answers: tests/crossmark.py (the real recorded works, with
updates built from Crossref's documented schema)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from scholarflow.paper.corrections import read_correction
from scholarflow.paper.models import CorrectionStatus, Paper
from scholarflow.registry import CACHE_INDEX, DoiCache, Lookup, Resolver
from scholarflow.registry.cache import CUT, WORKS_INDEX, cache_entry, cut_work, works_entry
from scholarflow.settings import DoiLookup, Settings
from tasks.enrich import apply_lookup, enrich_papers
from tests.crossmark import notice, recorded, update, with_fields
from tests.test_enrich_registry import paper

PLOS = "10.1371/journal.pone.0033693"  # its recorded answer has a real `updated-by`
SREP = "10.1038/srep16696"
CTDNA = "10.1136/jclinpath-2020-206745"
ESMO = "10.1136/esmoopen-2020-000776"


def enriched(doi: str, body: dict[str, Any], notices: tuple[dict[str, Any], ...] = ()) -> Paper:
    lookup = Lookup(doi, "found", "crossref", body=body, notices=list(notices))
    return apply_lookup(paper(doi), lookup)


def test_the_recorded_correction_of_a_real_answer_is_read() -> None:
    correction = enriched(PLOS, recorded(PLOS)).correction
    assert correction is not None
    assert correction.status is CorrectionStatus.CORRECTED
    assert correction.notice_doi == "10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda"
    assert correction.notice_date == "2012-05-08"
    (read,) = correction.notices
    assert (read.type, read.source, read.via) == ("correction", "publisher", "updated-by")
    assert correction.problems == []


def test_a_work_without_updates_has_no_correction() -> None:
    assert enriched(SREP, recorded(SREP)).correction is None  # its `relation` is {}


def test_a_retraction_outranks_a_correction_and_shows_its_notice() -> None:
    body = with_fields(
        SREP,
        updated_by=[
            update("10.1038/srep99901", "correction", (2016, 3, 1)),
            update("10.1038/srep99902", "retraction", (2018, 7), "retraction-watch", "41234"),
            update("10.1038/srep99902", "retraction", (2018, 7)),  # the publisher's, the same
        ],
    )
    correction = enriched(SREP, body).correction
    assert correction is not None and correction.status is CorrectionStatus.RETRACTED
    assert (correction.notice_doi, correction.notice_date) == ("10.1038/srep99902", "2018-07")
    assert [(n.type, n.doi) for n in correction.notices] == [
        ("correction", "10.1038/srep99901"),
        ("retraction", "10.1038/srep99902"),
    ]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("retraction", CorrectionStatus.RETRACTED),
        ("partial_retraction", CorrectionStatus.RETRACTED),
        ("Withdrawal", CorrectionStatus.WITHDRAWN),
        ("removal", CorrectionStatus.WITHDRAWN),
        ("Expression of concern", CorrectionStatus.EXPRESSION_OF_CONCERN),
        ("expression-of-concern", CorrectionStatus.EXPRESSION_OF_CONCERN),
        ("erratum", CorrectionStatus.CORRECTED),
        ("err", CorrectionStatus.CORRECTED),  # read by Crossref's API as an erratum too
        ("corrigendum", CorrectionStatus.CORRECTED),
        ("addendum", CorrectionStatus.CORRECTED),
        ("clarification", CorrectionStatus.CORRECTED),
        ("new_version", None),  # an update that corrects nothing
        ("new_edition", None),
    ],
)
def test_every_crossmark_update_type(kind: str, status: CorrectionStatus | None) -> None:
    body = with_fields(SREP, updated_by=[update("10.1038/srep99903", kind, (2020, 1, 2))])
    correction = enriched(SREP, body).correction
    assert (correction.status if correction else None) is status


BAD_BLOCKS = [
    ({"updated_by": "retracted"}, "updated-by is not a list but str", CorrectionStatus.UNREADABLE),
    ({"updated_by": [7]}, "updated-by[0] is not an object but int", CorrectionStatus.UNREADABLE),
    (
        {"updated_by": [{"DOI": "10.1038/srep99905"}]},
        "updated-by[0] has no update type",
        CorrectionStatus.UNREADABLE,
    ),
    (
        {"updated_by": [{"type": "reinstatement", "DOI": "10.1038/srep99904"}]},
        "updated-by[0]: unknown update type 'reinstatement'",
        CorrectionStatus.UNREADABLE,
    ),
    (
        {"updated_by": [{"type": "retraction", "DOI": "not a doi"}]},
        "updated-by[0]: no DOI for the retraction notice",
        CorrectionStatus.RETRACTED,  # a retraction without a usable DOI is still one
    ),
    (
        {"updated_by": [{"type": "retraction", "updated": {"date-parts": [["2018", 13]]}}]},
        "updated-by[0]: unreadable date",
        CorrectionStatus.RETRACTED,
    ),
    ({"relation": ["is-preprint-of"]}, "relation is not an object but list", None),
    (
        {"relation": {"is-retracted-by": [{"id": "10.1/x"}], "has-review": []}},
        "relation: unknown relation type 'is-retracted-by'",
        None,  # no relation type says retracted: nothing is guessed
    ),
]


@pytest.mark.parametrize(("fields", "problem", "status"), BAD_BLOCKS)
def test_a_bad_update_block_gets_a_clear_status_never_an_error(
    fields: dict[str, Any], problem: str, status: str | None
) -> None:
    correction = enriched(SREP, with_fields(SREP, **fields)).correction
    assert correction is not None
    assert any(p.startswith(problem) for p in correction.problems), correction.problems
    assert correction.status == status


def test_problems_are_bounded() -> None:
    correction = read_correction(SREP, {"updated-by": list(range(500))})
    assert correction is not None and len(correction.problems) == 10


def test_a_notice_names_the_work_it_updates_in_update_to() -> None:
    """The other direction: the notice's own answer says what it retracts."""
    retraction = notice("10.1136/notice-1", [update(CTDNA, "retraction", (2022, 2, 1))], ESMO)
    correction = enriched(CTDNA, recorded(CTDNA), (retraction["message"],)).correction
    assert correction is not None and correction.status is CorrectionStatus.RETRACTED
    assert correction.notice_doi == "10.1136/notice-1"
    assert [n.via for n in correction.notices] == ["update-to"]
    assert enriched(ESMO, retraction).correction is None  # the notice is not retracted itself


def test_notices_in_the_cache_mark_the_works_they_update(
    settings: Settings, es: Elasticsearch
) -> None:
    """A notice looked up once (its record ingested, say) marks the paper it retracts in every
    later enrichment that reads the cache."""
    cache = DoiCache(es, settings)
    retraction = notice("10.1136/notice-2", [update(CTDNA.upper(), "retraction", (2022,))], ESMO)
    cache.put_many(
        [
            Lookup("10.1136/notice-2", "found", "crossref", body=retraction),
            Lookup(CTDNA, "found", "crossref", body=recorded(CTDNA)),
        ]
    )
    cache_only = settings.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY})
    (result,) = enrich_papers([paper(CTDNA)], Resolver(cache_only, cache, None))

    assert result.correction is not None
    assert (result.correction.status, result.correction.notice_date) == ("retracted", "2022")
    stored = es.get(index=WORKS_INDEX, id="10.1136/notice-2")["_source"]
    assert stored["updates"] == [CTDNA] and stored["cut"] == CUT


def test_a_works_entry_cut_before_the_update_fields_is_cut_again(
    settings: Settings, es: Elasticsearch
) -> None:
    """A cache written before `WORK_FIELDS` held the updates: its cut works lack them, so each
    is cut again from the whole answer the first time it is read (as answers stored before the
    works index was are), and the correction is there from that read on."""
    body = recorded(PLOS)
    entry = cache_entry(Lookup(PLOS, "found", "crossref", body=body), timedelta(days=90))
    older = works_entry(entry)
    del older["cut"], older["updates"]
    older["work"] = {k: v for k, v in cut_work(body).items() if k != "updated-by"}
    cache = DoiCache(es, settings)
    cache.ensure()
    es.index(index=CACHE_INDEX, id=PLOS, document=entry)
    es.index(index=WORKS_INDEX, id=PLOS, document=older, refresh=True)

    lookup = cache.get_many([PLOS])[PLOS]

    assert lookup.body == cut_work(body) and "updated-by" in lookup.body
    assert apply_lookup(paper(PLOS), lookup).correction is not None
    es.indices.refresh(index=WORKS_INDEX)
    assert es.get(index=WORKS_INDEX, id=PLOS)["_source"]["cut"] == CUT
