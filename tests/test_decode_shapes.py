"""Each source shape read through the decoder's dispatcher, and what a damaged double-encoded
copy (`resultStr`) still gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scholarflow.paper.models import Paper, RawRecord
from tasks.decode import decode_record
from tasks.decode.partial_json import complete_members
from tasks.fetch import read_records
from tests.conftest import SEED_RECORDS

ENGLISH = "Four new species of the genus Ectatosticta"
CHINESE = "中国节板蛛属四新种"


def decode(payload: dict, **extras: str) -> Paper:
    result = decode_record(RawRecord("feed.jsonl", "line 1", payload=payload, extras=extras))
    assert isinstance(result, Paper), result
    return result


# --- one test per shape -----------------------------------------------------------------------


def test_plain_json_keys_mean_what_they_say() -> None:
    paper = decode(
        {"title": ENGLISH, "abstract": "<p>Spiders.</p>", "doi": "10.1000/X", "authors": "Li Wei"}
    )
    assert (paper.title_en, paper.title_zh, paper.abstract_en) == (ENGLISH, None, "Spiders.")
    assert (paper.doi, [a.name for a in paper.authors]) == ("10.1000/x", ["Li Wei"])
    assert paper.flags == []


def test_aggregator_record_prefers_its_chinese_keys_to_its_translated_title() -> None:
    paper = decode({"title": "节板蛛属的译名", "TitleCN": CHINESE, "resultStr": None})
    assert (paper.title_zh, paper.title_en) == (CHINESE, None)


def test_double_encoded_copy_gives_the_english_title_and_fields_only_it_carries() -> None:
    copy = {"title": ENGLISH, "citationCount": "9", "PeriodicalIF": "1.2", "JCR": "q2"}
    paper = decode({"title": CHINESE, "citationCount": "3", "resultStr": json.dumps(copy)})
    assert (paper.title_en, paper.title_zh) == (ENGLISH, CHINESE)
    assert (paper.impact_factor, paper.jcr_quartile) == (1.2, "Q2")  # only in the copy
    assert paper.citation_count == 3  # the record's own value comes first
    assert paper.flags == []


def test_three_line_text_lines_come_before_the_json_line(tmp_path: Path) -> None:
    copy = json.dumps({"title": "An older English title", "abstract": "Older abstract."})
    record = json.dumps({"title": CHINESE, "resultStr": copy}, ensure_ascii=False)
    feed = tmp_path / "feed.txt"
    feed.write_text(f"{record}\n{ENGLISH}\nThe side-car abstract.\n", encoding="utf-8")
    (paper,) = [decode_record(r) for r in read_records([feed])]
    assert isinstance(paper, Paper)
    assert (paper.title_en, paper.abstract_en) == (ENGLISH, "The side-car abstract.")
    assert paper.title_zh == CHINESE


# --- a damaged copy ---------------------------------------------------------------------------

COPY = json.dumps(
    {
        "title": ENGLISH,
        "PeriodicalIF": "2.5",
        "authors": ["Li Wei", "Zhang San"],
        "JCRName": "ZOOLOGY",
        "JCR": "Q3",
    }
)


def cut_copy(marker: str, offset: int) -> Paper:
    """The paper of a record whose copy ends `offset` characters into `marker`."""
    at = COPY.index(marker) + offset
    return decode({"title": CHINESE, "doi": "10.1000/spiders", "resultStr": COPY[:at]})


@pytest.mark.parametrize(
    ("marker", "offset", "authors", "subject"),
    [
        ('"Zhang San"', 3, [], None),  # inside the nested array: `authors` is lost
        ('"JCRName"', 0, ["Li Wei", "Zhang San"], None),  # just after a complete member
        ('"ZOOLOGY"', 4, ["Li Wei", "Zhang San"], None),  # inside a string
        ('"Q3"', 4, ["Li Wei", "Zhang San"], "ZOOLOGY"),  # before the closing brace
    ],
)
def test_cut_off_copy_keeps_the_members_before_the_cut(
    marker: str, offset: int, authors: list[str], subject: str | None
) -> None:
    paper = cut_copy(marker, offset)
    assert (paper.title_en, paper.title_zh, paper.impact_factor) == (ENGLISH, CHINESE, 2.5)
    assert [a.name for a in paper.authors] == authors
    assert paper.jcr_subject == subject
    assert paper.jcr_quartile is None  # the last member never completed
    assert "inner_json_partial" in paper.flags
    assert "result_str_unreadable" not in paper.flags


def test_copy_cut_inside_its_first_member_is_unreadable_as_before() -> None:
    paper = cut_copy(ENGLISH, 10)
    assert (paper.title_en, paper.title_zh) == (None, CHINESE)
    assert "result_str_unreadable" in paper.flags
    assert "inner_json_partial" not in paper.flags


def test_malformed_copy_keeps_what_comes_before_the_damage() -> None:
    damaged = COPY.replace(', "authors"', ' "authors"')  # a comma missing after PeriodicalIF
    paper = decode({"title": CHINESE, "resultStr": damaged})
    assert (paper.title_en, paper.impact_factor, paper.authors) == (ENGLISH, None, [])
    assert "inner_json_partial" in paper.flags


def test_partial_copy_of_another_paper_is_still_ignored() -> None:
    copy = json.dumps({"doi": "10.9999/other", "title": "Another paper", "JCR": "Q1"})
    paper = decode({"title": CHINESE, "doi": "10.1000/spiders", "resultStr": copy[:-10]})
    assert paper.title_en is None
    assert "result_str_mismatch" in paper.flags


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ('{"a": 1, "b": 12', {"a": 1}),  # a number at the cut may itself be cut
        ('{"a": 1, "b": NaN, "c": 2}', {"a": 1}),  # what orjson refuses is damage
        ('{"a": "x", "b": "\\ud800", "c": 2', {"a": "x"}),  # a lone surrogate
        ('{"a": [1, {"b": 2}], "c": ' + "[" * 100_000, {"a": [1, {"b": 2}]}),  # too deep
        ('{"a": 1, 2: 3}', {"a": 1}),
        ('{"a": 1} and more', {"a": 1}),
        ('\n {\n"a" : true ,\n"b"', {"a": True}),
        ('["a", 1]', {}),
        ("", {}),
    ],
)
def test_complete_members(text: str, members: dict) -> None:
    assert complete_members(text) == members


def test_every_cut_of_the_seed_copy_keeps_a_prefix_of_its_members() -> None:
    line = (SEED_RECORDS / "000_a3a9f962eae85f56.txt").read_text("utf-8").splitlines()[0]
    copy = json.loads(line)["resultStr"]
    members = list(json.loads(copy).items())
    kept = [len(complete_members(copy[:cut])) for cut in range(len(copy))]
    assert kept == sorted(kept) and kept[-1] == len(members) - 1  # the last needs its brace
    for cut in range(0, len(copy), 97):
        found = list(complete_members(copy[:cut]).items())
        assert found == members[: len(found)]


# --- resultStr, whole or missing ---------------------------------------------------------------


def seed_payload() -> dict:
    first_line = (SEED_RECORDS / "000_a3a9f962eae85f56.txt").read_text("utf-8").splitlines()[0]
    return json.loads(first_line)


def test_result_str_missing_uses_the_outer_record() -> None:
    payload = seed_payload()
    del payload["resultStr"]
    result = decode(payload)
    assert result.title_zh.startswith("利妥昔单抗") and result.title_en is None
    assert result.doi == "10.1080/25785826.2025.2563427"
    assert result.flags == []


def test_result_str_null_uses_the_outer_record() -> None:
    payload = seed_payload() | {"resultStr": None}
    result = decode(payload)
    assert result.title_en is None and result.abstract_en.startswith("Leukopenia")


def test_truncated_result_str_is_flagged_and_the_outer_record_kept() -> None:
    payload = seed_payload()
    payload["resultStr"] = payload["resultStr"][:120]
    result = decode(payload)
    assert "result_str_unreadable" in result.flags
    assert result.title_zh.startswith("利妥昔单抗")


def test_result_str_for_another_paper_is_ignored() -> None:
    payload = seed_payload()
    inner = json.loads(payload["resultStr"])
    inner.update({"doi": "10.9999/other", "title": "A different paper entirely"})
    payload["resultStr"] = json.dumps(inner)
    result = decode(payload)
    assert "result_str_mismatch" in result.flags
    assert result.title_en is None  # the other paper's English title is not borrowed
    assert result.doi == "10.1080/25785826.2025.2563427"


def test_result_str_of_the_wrong_type_is_ignored() -> None:
    for value in (42, ["x"], "   ", {"title": None}):
        result = decode(seed_payload() | {"resultStr": value})
        assert result.title_zh.startswith("利妥昔单抗")
