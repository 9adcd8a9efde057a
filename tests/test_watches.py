"""Saved searches: what may be saved, how they are stored, and the percolator store that matches
papers against them on the real engine exactly as a search of the same index finds them."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from scholarflow.alerts.percolator import (
    PercolatorError,
    ensure_percolator,
    fields_read,
    percolate,
    percolator_index,
    sync,
)
from scholarflow.alerts.watches import (
    SavedSearch,
    WatchError,
    WatchStore,
    check_query,
    new_saved_search,
)
from scholarflow.engine.client import connect
from scholarflow.search.query import Filters
from scholarflow.search.relevance import load_judgments
from scholarflow.settings import Settings
from scholarflow.stores.indices import live_index

SAFE = [
    "系統性紅斑狼瘡",
    "leukopenia rituximab",
    "SLE 白细胞",
    "COVID-19: a review",
    "https://doi.org/10.1038/srep16696",
    "Parkinson’s mutants?",
    "Restudy on Pseudanapis aloha and P.parocula(Araneae:Anapidae)",
    "note: lupus",
]
UNSAFE = [
    ("", "empty"),
    ("   ", "empty"),
    (" ... ", "no words"),
    ("title:spider", "field name"),
    ("spider AND lizard", "operator"),
    ("spid*", "wildcard"),
    ("year:[2020 TO 2021]", "field name"),
    ("authors.name:li", "field name"),
    ("Title:Spider", "field name"),
    ("[2020 TO 2021]", "range"),
    ("/sp.der/", "regular expression"),
    ("spider^5", "boost"),
    ("spidr~2", "boost or fuzziness"),
    ("spider\x00lizard", "control characters"),
    ("x" * 301, "characters long"),
    (" ".join(f"w{i}" for i in range(30)), "at most 24"),
]


@pytest.mark.parametrize("text", SAFE)
def test_words_dois_and_punctuation_are_accepted(text: str):
    check_query(text)


@pytest.mark.parametrize(("text", "why"), UNSAFE)
def test_empty_oversized_and_query_syntax_are_refused_with_a_reason(text: str, why: str):
    with pytest.raises(WatchError, match=why):
        check_query(text)


def test_every_judged_query_can_be_saved():
    """What people search for (relevance/judgments.json: words, titles with taxonomic colons,
    DOIs, both languages) is never mistaken for query syntax."""
    for judged in load_judgments():
        check_query(judged.query)


def test_names_are_checked_and_folded_to_lower_case():
    assert new_saved_search(" Lupus ", "lupus").name == "lupus"
    with pytest.raises(WatchError, match="not a saved-search name"):
        new_saved_search("my search", "lupus")


def test_a_saved_search_round_trips_through_its_store(settings: Settings):
    store = WatchStore(connect(settings))
    filters = Filters(year_from=2020, year_to=2025, journals=("蛛形学报",), open_access=True)
    saved = new_saved_search("spiders", "new species", filters)
    store.add(saved)
    assert store.get("SPIDERS") == saved
    assert store.get("spiders").query() == saved.query()
    with pytest.raises(WatchError, match="exists"):
        store.add(saved)
    store.remove("spiders")
    assert store.all() == []
    with pytest.raises(WatchError, match="no saved search named 'spiders'"):
        store.get("spiders")


SEARCHES = {
    "lupus": "系統性紅斑狼瘡",
    "leukopenia": "leukopenia rituximab",
    "spiders": "new species spider",
    "one-character": "蛛",
    "doi": "10.1038/srep16696",
    "nothing": "quantum chromodynamics",
}


def _papers(client: Elasticsearch, index: str) -> list[dict]:
    hits = client.search(index=index, size=100, sort=["id"])["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def test_the_percolator_matches_what_a_search_of_the_same_index_finds(
    seeded_settings: Settings,
):
    client = connect(seeded_settings)
    index = live_index(client, seeded_settings.alias)
    assert index
    searches = [new_saved_search(name, text) for name, text in SEARCHES.items()]
    store = ensure_percolator(client, index)
    assert store == percolator_index(index)
    assert sync(client, store, searches).written == len(SEARCHES)

    papers = _papers(client, index)
    found = percolate(client, store, papers)
    for search in searches:
        searched = client.search(index=index, query=search.query(), size=100, _source=["id"])
        expected = {hit["_source"]["id"] for hit in searched["hits"]["hits"]}
        assert {papers[slot]["id"] for slot in found.get(search.name, [])} == expected
    assert found["doi"] == [next(i for i, p in enumerate(papers) if p["id"] == "10.1038/srep16696")]
    assert len(found["spiders"]) > 3
    assert "nothing" not in found


def test_sync_rebuilds_changed_definitions_only_and_drops_removed_ones(
    seeded_settings: Settings,
):
    client = connect(seeded_settings)
    index = live_index(client, seeded_settings.alias)
    assert index
    store = ensure_percolator(client, index)
    first = [new_saved_search("a", "lupus"), new_saved_search("b", "spider")]
    assert (sync(client, store, first).written, sync(client, store, first).written) == (2, 0)
    changed = [SavedSearch("a", "lupus", Filters(year_from=2025)), first[1]]
    result = sync(client, store, changed[:1])
    assert (result.written, result.removed, result.stored) == (1, 1, 1)
    assert client.count(index=store)["count"] == 1


def test_a_store_whose_mappings_lack_a_searched_field_refuses_by_name(
    seeded_settings: Settings,
):
    client = connect(seeded_settings)
    index = live_index(client, seeded_settings.alias)
    assert index
    store = "scholarflow-percolator-bare"
    client.indices.create(
        index=store,
        mappings={
            "properties": {
                "saved_query": {"type": "percolator"},
                "saved_search": {"properties": {"name": {"type": "keyword"}}},
                "title_en": {"type": "text"},
            }
        },
    )
    with pytest.raises(PercolatorError, match="refuses 1 saved searches: lupus"):
        sync(client, store, [new_saved_search("lupus", "lupus")])


def test_percolator_stores_of_indices_that_are_gone_are_dropped(seeded_settings: Settings):
    client = connect(seeded_settings)
    index = live_index(client, seeded_settings.alias)
    assert index
    orphan = percolator_index("papers-000000")
    client.indices.create(index=orphan)
    ensure_percolator(client, index)
    assert not client.indices.exists(index=orphan)
    assert client.indices.exists(index=percolator_index(index))


def test_papers_are_matched_with_the_fields_the_saved_searches_read(seeded_settings: Settings):
    client = connect(seeded_settings)
    store = ensure_percolator(client, "papers-000001")
    doi = fields_read(client, store, [new_saved_search("doi", "10.1038/srep16696")])
    assert doi == {"doi"}
    narrowed = new_saved_search("lupus", "lupus", Filters(year_from=2020, open_access=True))
    read = fields_read(client, store, [narrowed])
    assert {"title_en", "abstract_zh", "journal", "authors", "title", "year", "open_access"} <= read
    assert not read & {"suggest", "record_hashes", "provenance", "enrichment", "saved_query"}
