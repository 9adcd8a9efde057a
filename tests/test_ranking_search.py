"""The ranking signals on the seeds, in both analysis profiles: phrases in quotes, years typed
with the words, citations; and the corrected paper the recorded answers name."""

from __future__ import annotations

import pytest

from scholarflow.search.service import search_papers
from scholarflow.settings import Settings

PREDATION = "10.3969/j.issn.1005-9628.2021.01.012"  # "The predation of Evarcha albaria …"
PREDATOR = "10.3969/j.issn.1005-9628.2021.01.014"  # "… in the eyes of avian predator"
LIZARDS = "sf-20d4dfc799fbe9e0ce5b"  # "Higher Body Temperatures …", 2021
DIANTHUS = "10.7606/j.issn.1000-4025.2016.01.0037"  # "… Low Temperature Environment …", 2016
COLORECTAL = "10.1136/esmoopen-2020-000776"  # cancer, 2020
BLADDER = "10.3892/ijo_00000353"  # cancer cells, 2009, cited 4 times
CORD_BLOOD = "10.1016/j.neurobiolaging.2010.03.024"  # human stem cells, cited 242 times
WIRELESS = "10.1109/icdcsw.2003.1203662"  # no date in the record; "2003" in its proceedings
HETNET = "10.6084/m9.figshare.4724797"  # the only paper of 2017
LUPUS = "10.1080/25785826.2025.2563427"
METHYLPHENIDATE = "10.1371/journal.pone.0033693"  # its recorded answer names a correction


def ids(settings: Settings, query: str) -> list[str]:
    return [hit["id"] for hit in search_papers(settings, query)["hits"]]


def test_a_phrase_in_quotes_is_matched_unstemmed(profile_settings: Settings) -> None:
    assert set(ids(profile_settings, "predation")) == {PREDATION, PREDATOR}  # one stem
    assert ids(profile_settings, '"predation"') == [PREDATION]
    assert ids(profile_settings, '"predator"') == [PREDATOR]
    assert ids(profile_settings, '"temperatures"')[0] == LIZARDS
    assert DIANTHUS not in ids(profile_settings, '"temperatures"')


@pytest.mark.parametrize("query", ['"白细胞减少"', "「系統性紅斑狼瘡」", '"Hanai" leukopenia'])
def test_phrases_compose_with_scripts_and_words(profile_settings: Settings, query: str) -> None:
    assert ids(profile_settings, query) == [LUPUS]


@pytest.mark.parametrize(
    ("query", "first"),
    [("cancer 2020", COLORECTAL), ("cancer 2009", BLADDER), ("temperature 2016", DIANTHUS)],
)
def test_a_typed_year_puts_that_years_papers_first(
    profile_settings: Settings, query: str, first: str
) -> None:
    assert ids(profile_settings, query)[0] == first


def test_a_typed_year_filters_nothing_out(profile_settings: Settings) -> None:
    # the record has no date: a filter on the year would lose it
    assert ids(profile_settings, "congestion losses 2003")[0] == WIRELESS
    assert len(ids(profile_settings, "cancer 2020")) == len(ids(profile_settings, "cancer"))


def test_a_year_alone_finds_that_years_papers(profile_settings: Settings) -> None:
    assert ids(profile_settings, "2017") == [HETNET]


def test_more_citations_rank_a_near_tie_higher(profile_settings: Settings) -> None:
    # both title "Human …"; the bladder paper's text scores a little higher
    assert ids(profile_settings, "human")[0] == CORD_BLOOD


def test_the_recorded_correction_is_on_the_paper(seeded_settings: Settings) -> None:
    (hit,) = search_papers(seeded_settings, "methylphenidate dopamine")["hits"]
    assert hit["id"] == METHYLPHENIDATE
    assert hit["correction"] == {
        "status": "corrected",
        "notice_doi": "10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda",
        "notice_date": "2012-05-08",
    }
