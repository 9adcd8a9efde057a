"""DOIs for records without one: the acceptance rule on the real recorded Crossref works, and
whole ingests against a local Crossref search (tests/crossref_search.py) on the real engine:
true matches, near misses that must be refused, and no answer (none, 404, a timeout, offline,
cache-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from flows.ingest import run_ingest
from scholarflow.engine.client import connect
from scholarflow.paper.models import Outcome
from scholarflow.registry.matching import Query, judge
from scholarflow.settings import DoiLookup, Settings
from tests.conftest import assert_accounted
from tests.crossref_search import recorded_works, search_answer
from tests.fixture_server import FixtureServer, Reply

WORKS = {work["DOI"].lower(): work for work in recorded_works()}
SREP = "10.1038/srep16696"
SREP_TITLE = (
    "Single-molecule FRET studies on alpha-synuclein oligomerization of Parkinson's disease "
    "genetically related mutants"
)
PLOS = "10.1371/journal.pone.0033693"
PLOS_TITLE = (
    "Methylphenidate Exposure Induces Dopamine Neuron Loss and Activation of Microglia in the "
    "Basal Ganglia of Mice"
)
JCLIN = "10.1136/jclinpath-2020-206745"
JCLIN_TITLE = (
    "Construction of a reference material panel for detecting KRAS/NRAS/EGFR/BRAF/MET "
    "mutations in plasma ctDNA"
)


def _scored(doi: str, score: float = 80.0, **changes: Any) -> dict[str, Any]:
    return {**WORKS[doi], "score": score, **changes}


# --- the rule, on the recorded works ----------------------------------------------------------


def test_a_true_match_is_accepted_with_its_evidence():
    evidence, work = judge(Query(SREP_TITLE, "TOSATTO Laura", 2015), [_scored(SREP)])
    assert work is not None and work["DOI"] == "10.1038/srep16696"
    assert evidence.status == "matched" and evidence.doi == SREP and evidence.reason is None
    assert evidence.title_similarity is not None and evidence.title_similarity >= 0.99
    assert (evidence.year, evidence.author, evidence.score) == (2015, "Tosatto, Laura", 80.0)


def test_markup_in_a_registry_title_and_a_chinese_author_name_still_match():
    evidence, _ = judge(Query(JCLIN_TITLE, "徐君", 2021), [_scored(JCLIN)])
    assert evidence.status == "matched", evidence.reason


@pytest.mark.parametrize(
    ("query", "why"),
    [
        (
            Query(SREP_TITLE.replace("oligomerization", "aggregation"), "Laura Tosatto", 2015),
            "title similarity",
        ),
        (
            Query(SREP_TITLE.replace("related mutants", "related variants"), "Laura Tosatto", 2015),
            "title words differ: mutants, variants",
        ),
        (Query(PLOS_TITLE, "Shankar Sadasivan", 2013), "year [2012] is not 2013"),
        (Query(JCLIN_TITLE, "Wei Zhang", 2021), "first author Xu, Jun is not Wei Zhang"),
        (Query(JCLIN_TITLE, "Jian Xu", 2021), "first author Xu, Jun is not Jian Xu"),
    ],
)
def test_near_misses_are_refused_saying_why(query: Query, why: str):
    doi = {SREP_TITLE[:20]: SREP, PLOS_TITLE[:20]: PLOS, JCLIN_TITLE[:20]: JCLIN}[query.title[:20]]
    evidence, work = judge(query, [_scored(doi)])
    assert work is None and evidence.status == "refused" and evidence.doi == doi
    assert why in (evidence.reason or "")


def test_a_low_score_two_passing_works_and_empty_answers_are_refused():
    query = Query(SREP_TITLE, "Laura Tosatto", 2015)
    low, _ = judge(query, [_scored(SREP, score=12.5)])
    assert low.status == "refused" and "score 12.5 < 30" in (low.reason or "")
    twin = _scored(SREP, DOI="10.1038/srep16696-copy")
    both, work = judge(query, [_scored(SREP), twin])
    assert work is None and "ambiguous" in (both.reason or "")
    none, _ = judge(query, [])
    assert (none.status, none.reason) == ("no_answer", "no candidate works")
    untitled, _ = judge(query, [_scored(SREP, title=[""]), {"score": 99.0, "title": [SREP_TITLE]}])
    assert untitled.status == "refused" and "title similarity 0.000" in (untitled.reason or "")


# --- ingests against the local Crossref search ------------------------------------------------


def _records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _record(title: str, authors: str, date: str, doi: str | None = None) -> dict[str, Any]:
    return {"title": title, "authors": authors, "publicationDate": date, "doi": doi}


NO_DOI_RECORDS = [
    _record(SREP_TITLE.upper(), "TOSATTO Laura, HORROCKS Mathew H.", "2015-11-20"),
    _record(PLOS_TITLE, "S. Sadasivan, B. B. Pond", "2012"),
    _record(SREP_TITLE.replace("oligomerization", "aggregation"), "Laura Tosatto", "2015"),
    _record(PLOS_TITLE, "Shankar Sadasivan", "2013"),
    _record(JCLIN_TITLE, "Wei Zhang", "2021"),
    _record("Thermal ecology of high altitude lizards", "Ping Liu", "2021"),
    _record("Short title", "Ping Liu", "2021"),
]
EXPECTED = [
    ("matched", SREP),
    ("matched", PLOS),
    ("refused", SREP),
    ("refused", PLOS),
    ("refused", JCLIN),
    ("no_answer", None),
    ("skipped", None),
]


def _papers(settings: Settings) -> dict[str, dict[str, Any]]:
    client = connect(settings)
    hits = client.search(index=settings.alias, size=100)["hits"]["hits"]
    return {hit["_source"]["provenance"][0]["location"]: hit["_source"] for hit in hits}


def _ingest(settings: Settings, path: Path) -> Any:
    summary = run_ingest(settings, [str(path)], 500, full=True)
    assert_accounted(summary)
    return summary


def test_records_without_a_doi_get_one_only_when_the_rule_accepts(
    online: Settings, registry: FixtureServer, tmp_path: Path
):
    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    summary = _ingest(online, _records(tmp_path / "no-doi.jsonl", NO_DOI_RECORDS))
    assert summary.doi_matching == {"matched": 2, "refused": 3, "no_answer": 1, "skipped": 1}
    papers = _papers(online)
    for line, (status, doi) in enumerate(EXPECTED, start=1):
        paper = papers[f"line {line}"]
        assert (paper["doi_match"]["status"], paper["doi_match"]["doi"]) == (status, doi), line
        if status == "matched":
            assert (paper["id"], paper["doi"], paper["doi_source"]) == (doi, doi, "matched")
            assert paper["enrichment"]["status"] == "enriched"
        else:
            assert paper["doi"] is None and paper["doi_source"] is None
            assert paper["id"].startswith("sf-")
    assert papers["line 1"]["journal"]["name"] == "Scientific Reports"  # from the matched work
    # The search sent title, first author and year, politely; the accepted work served as the
    # DOI's answer: no `/works/{doi}` request.
    assert set(registry.paths()) == {"/works"}
    sent = parse_qs(registry.requests[0].query)
    assert sent["rows"] == ["5"] and sent["mailto"] == ["ops@example.org"]
    texts = {parse_qs(r.query)["query.bibliographic"][0] for r in registry.requests}
    assert f"{PLOS_TITLE} S. Sadasivan 2012" in texts

    again = _ingest(
        online.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY}), tmp_path / "no-doi.jsonl"
    )
    assert again.outcomes[Outcome.UNCHANGED] == len(NO_DOI_RECORDS)
    assert len(registry.requests) == 6  # the cached answers decided the same way


def test_a_matched_record_merges_with_the_record_carrying_the_doi(
    online: Settings, registry: FixtureServer, tmp_path: Path
):
    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    registry.serve_work(SREP, "crossref_work_10.1038_srep16696_jats_abstract.json")
    records = [
        _record(SREP_TITLE, "Laura Tosatto", "2015"),
        _record(
            "帕金森病遗传相关突变体α-突触核蛋白寡聚化的单分子FRET研究",
            "Laura Tosatto",
            "2015",
            SREP,
        ),
    ]
    summary = _ingest(online, _records(tmp_path / "pair.jsonl", records))
    assert (summary.outcomes[Outcome.INDEXED], summary.outcomes[Outcome.MERGED]) == (1, 1)
    [paper] = _papers(online).values()
    assert (paper["id"], paper["doi_source"]) == (SREP, "source")
    assert paper["doi_match"]["status"] == "matched"
    assert {p["location"] for p in paper["provenance"]} == {"line 1", "line 2"}
    assert paper["title_zh"].startswith("帕金森病")


def test_a_doi_from_the_record_is_never_searched_for(
    online: Settings, registry: FixtureServer, tmp_path: Path
):
    registry.respond("/works", lambda query: search_answer(list(WORKS.values()), query))
    _ingest(
        online,
        _records(tmp_path / "doi.jsonl", [_record(PLOS_TITLE, "X Y", "2012", "10.5555/own")]),
    )
    [paper] = _papers(online).values()
    assert (paper["doi"], paper["doi_source"], paper["doi_match"]) == (
        "10.5555/own",
        "source",
        None,
    )
    assert "/works" not in registry.paths()


@pytest.mark.parametrize(
    ("reply", "status", "reason"),
    [
        (
            Reply(404, b"Resource not found.", {"content-type": "text/plain"}),
            "no_answer",
            "no candidate",
        ),
        (Reply.json({"status": "ok", "message": {"items": []}}), "no_answer", "no candidate"),
        (Reply.json({"status": "ok", "message": {}}), "failed", "malformed search answer"),
        (Reply(200, b"{}", delay=3.0), "deferred", "Crossref unreachable"),
    ],
    ids=["404", "no-items", "malformed", "timeout"],
)
def test_no_answer_leaves_the_record_without_a_doi_saying_why(
    online: Settings,
    registry: FixtureServer,
    tmp_path: Path,
    reply: Reply,
    status: str,
    reason: str,
):
    registry.route("/works", reply)
    settings = online.model_copy(update={"doi_attempts": 1, "doi_timeout": 0.5})
    summary = _ingest(settings, _records(tmp_path / "one.jsonl", NO_DOI_RECORDS[:1]))
    assert summary.outcomes[Outcome.INDEXED] == 1
    [paper] = _papers(settings).values()
    assert paper["doi"] is None and paper["doi_match"]["status"] == status
    assert reason in paper["doi_match"]["reason"]


def test_offline_and_cache_only_degrade_cleanly(settings: Settings, tmp_path: Path):
    records = _records(tmp_path / "no-doi.jsonl", NO_DOI_RECORDS[:2])
    offline = settings.model_copy(
        update={
            "doi_lookup": DoiLookup.ON,
            "crossref_url": "http://127.0.0.1:9",
            "doi_timeout": 0.5,
        }
    )
    started = _ingest(offline, records)
    assert started.doi_matching == {"deferred": 2} and started.outcomes[Outcome.INDEXED] == 2
    cache_only = settings.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY})
    assert _ingest(cache_only, records).doi_matching == {"cache_miss": 2}
    lookups_off = _ingest(settings, records)  # `off`: nothing is searched for
    assert lookups_off.doi_matching == {}
