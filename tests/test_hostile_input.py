"""Hostile input: every case real feeds produce, each ending in a clean paper or a rejection that
names the record, never an exception and never the loss of the rest of the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scholarflow.paper.models import Paper, Precision, RawRecord, Rejection, Stage
from tasks.decode import MAX_TEXT_CHARS, decode_record, decode_records
from tasks.fetch import read_records


def decode(payload: dict, **extras: str) -> Paper | Rejection:
    return decode_record(RawRecord("feed.jsonl", "line 1", payload=payload, extras=extras))


def paper(payload: dict) -> Paper:
    result = decode(payload)
    assert isinstance(result, Paper), result
    return result


def write_lines(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good_line(n: int) -> bytes:
    return json.dumps({"title": f"Good paper {n}", "doi": f"10.1000/good.{n}"}).encode()


def outcomes(path: Path) -> list[Paper | Rejection]:
    return [decode_record(r) for r in read_records([path])]


# --- reading: one bad line costs that line only ----------------------------------------------


def test_truncated_json_is_rejected_with_its_line_and_the_file_goes_on(tmp_path: Path) -> None:
    feed = write_lines(
        tmp_path / "feed.jsonl", good_line(1), b'{"title": "Cut short", "doi": "10.10', good_line(3)
    )
    first, cut, third = outcomes(feed)
    assert isinstance(first, Paper) and isinstance(third, Paper)
    assert isinstance(cut, Rejection)
    assert (cut.stage, cut.reason, cut.location) == (Stage.FETCH, "invalid JSON", "line 2")
    assert "line 1 column" in cut.detail  # where in the line the JSON broke
    assert cut.payload == '{"title": "Cut short", "doi": "10.10'


def test_json_that_is_not_an_object_is_rejected_naming_its_kind(tmp_path: Path) -> None:
    feed = write_lines(tmp_path / "feed.jsonl", b"[1, 2]", b'"a string"', b"42", b"null")
    reasons = [(r.stage, r.reason, r.location) for r in outcomes(feed)]
    assert reasons == [
        (Stage.FETCH, "JSON list, expected an object", "line 1"),
        (Stage.FETCH, "JSON str, expected an object", "line 2"),
        (Stage.FETCH, "JSON int, expected an object", "line 3"),
        (Stage.FETCH, "JSON NoneType, expected an object", "line 4"),
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"abstract": "   ", "doi": "10.1000/x"},
        {"title": "<p> </p><!-- nothing -->", "TitleCN": ""},
        {"title": "\u200b\u200d\ufeff", "authors": "Li Wei"},
        {"title": None, "resultStr": None},
    ],
)
def test_record_with_nothing_indexable_is_rejected_at_decode(payload: dict) -> None:
    result = decode(payload)
    assert isinstance(result, Rejection)
    assert (result.stage, result.reason) == (Stage.DECODE, "no title in any language")
    assert result.payload == payload  # the raw record goes to the dead-letter store


def test_gb18030_line_is_detected_and_decoded(tmp_path: Path) -> None:
    chinese = {"title": "统计学习方法在白细胞减少症中的应用", "doi": "10.1000/gb.1"}
    feed = write_lines(
        tmp_path / "feed.jsonl",
        good_line(1),
        json.dumps(chinese, ensure_ascii=False).encode("gb18030"),
    )
    first, detected = outcomes(feed)
    assert isinstance(first, Paper) and "encoding_gb18030" not in first.flags
    assert isinstance(detected, Paper)
    assert detected.title_zh == chinese["title"]
    assert "encoding_gb18030" in detected.flags


def test_big5_traditional_line_is_decoded_and_folded_to_simplified(tmp_path: Path) -> None:
    record = {"title": "系統性紅斑狼瘡的治療研究", "doi": "10.1000/big5.1"}
    line = json.dumps(record, ensure_ascii=False).encode("big5")
    feed = write_lines(tmp_path / "feed.jsonl", line)
    (result,) = outcomes(feed)
    assert isinstance(result, Paper)
    assert result.title_zh == "系统性红斑狼疮的治疗研究"
    assert "encoding_big5" in result.flags


def test_line_in_no_encoding_is_rejected_but_never_the_whole_file(tmp_path: Path) -> None:
    junk = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02\x00\x00"
    feed = write_lines(tmp_path / "feed.jsonl", good_line(1), junk, good_line(3))
    records = list(read_records([feed]))
    assert [r.location for r in records] == ["line 1", "line 2", "line 3"]
    assert records[1].raw_bytes == junk  # kept byte for byte, for the dead-letter store
    first, rejected, third = (decode_record(r) for r in records)
    assert isinstance(first, Paper) and isinstance(third, Paper)
    assert isinstance(rejected, Rejection)
    assert rejected.reason == "not text in UTF-8 or any other encoding"
    assert rejected.detail == "byte 0xff at offset 0 is not UTF-8"


def test_invalid_utf8_in_a_three_line_record_does_not_lose_the_next_record(tmp_path: Path) -> None:
    feed = write_lines(
        tmp_path / "two.txt",
        good_line(1),
        b"\xff\xfe\x00\x00\xff binary title",
        b"An abstract",
        good_line(4),
        b"Title four",
        b"Abstract four",
    )
    results = outcomes(feed)
    assert [type(r).__name__ for r in results][-1] == "Paper"
    assert results[-1].title_en == "Title four" and results[-1].abstract_en == "Abstract four"
    assert sum(isinstance(r, Paper) for r in results) == 2


# --- control and invisible characters --------------------------------------------------------


def test_raw_nul_and_control_characters_in_a_line_are_tolerated_and_removed(
    tmp_path: Path,
) -> None:
    line = b'{"title": "Gene\x00 expression\x07 in\x1b mice", "doi": "10.1000/nul.1"}'
    feed = write_lines(tmp_path / "feed.jsonl", line)
    (result,) = outcomes(feed)
    assert isinstance(result, Paper)
    assert result.title_en == "Gene expression in mice"
    assert "control_characters" in result.flags


def test_escaped_control_characters_are_removed() -> None:
    result = paper({"title": "Heat\u0000 shock\u0008 proteins\u009f", "abstract": "A\u000bB"})
    assert result.title_en == "Heat shock proteins"
    assert result.abstract_en == "AB"


def test_zero_width_characters_are_removed() -> None:
    title = "CRISPR\u200b-Cas9\u200d screening\u2060 of \ufeffgenes"
    result = paper({"title": title, "authors": "Li\u200cWei"})
    assert result.title_en == "CRISPR-Cas9 screening of genes"
    assert [a.name for a in result.authors] == ["LiWei"]


# --- size ------------------------------------------------------------------------------------


def test_5_mb_abstract_is_capped_and_flagged() -> None:
    huge = "<p>" + "Leukopenia can occur because of lymphopenia. " * 115_000 + "</p>"
    assert len(huge) > 5_000_000
    result = paper({"title": "A very long abstract", "abstract": huge})
    assert 0 < len(result.abstract_en) <= MAX_TEXT_CHARS
    assert result.abstract_en.startswith("Leukopenia can occur")
    assert "text_truncated" in result.flags


def test_normal_abstract_is_not_flagged() -> None:
    result = paper({"title": "Short", "abstract": "<p>A normal abstract.</p>"})
    assert result.abstract_en == "A normal abstract." and result.flags == []


# --- markup and entities ---------------------------------------------------------------------


def test_script_style_iframe_and_comments_are_dropped_with_their_content() -> None:
    abstract = (
        "<p><p>Results<script>alert('x')</script> were<style>p{color:red}</style> "
        "<iframe src='https://evil.example'>frame text</iframe>clear<!-- hidden note -->.</p>"
    )
    result = paper({"title": "T", "abstract": abstract})
    assert result.abstract_en == "Results were clear."


def test_unbalanced_tags_and_doubled_paragraphs_keep_all_text() -> None:
    result = paper({"title": "T", "abstract": "<p><p>First <b>bold <i>part</p><p>Second</div>"})
    assert result.abstract_en == "First bold part\nSecond"


def test_entities_named_numeric_and_double_escaped_are_decoded() -> None:
    result = paper(
        {
            "title": "Fish &amp; chips &ouml;l &#233;t&#xE9; &#x3b1;-helix",
            "abstract": "<p>p &lt; 0.05 and &amp;amp; twice</p>",
        }
    )
    assert result.title_en == "Fish & chips öl été α-helix"
    assert result.abstract_en == "p < 0.05 and & twice"


# --- mojibake and width ----------------------------------------------------------------------


def test_latin_mojibake_is_repaired() -> None:
    result = paper({"title": "The naÃ¯ve cafÃ© effect on MÃ¼ller cells"})
    assert result.title_en == "The naïve café effect on Müller cells"


def test_chinese_mojibake_is_repaired() -> None:
    title = "利妥昔单抗成功治疗系统性红斑狼疮"
    result = paper({"title": title.encode("utf-8").decode("latin-1")})
    assert result.title_zh == title


def test_correct_accents_are_left_alone() -> None:
    result = paper({"title": "Größe und Übermaß: résumé of naïve cafés"})
    assert result.title_en == "Größe und Übermaß: résumé of naïve cafés"


def test_full_width_letters_and_digits_are_folded() -> None:
    result = paper(
        {"title": "ＣＲＩＳＰＲ　ｓｃｒｅｅｎｉｎｇ ２０２５", "doi": "１０．１０００／ＡＢＣ．１"}
    )
    assert result.title_en == "CRISPR screening 2025"
    assert result.doi == "10.1000/abc.1"


# --- identifiers, dates, numbers, booleans, authors -------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "https://doi.org/10.1000/ABC.1",
        "http://dx.doi.org/10.1000/abc.1",
        "doi:10.1000/abc.1",
        "DOI: 10.1000/ABC.1",
        "10.1000/ABC.1",
        "10.1000/abc.1.",
        "10.1000/abc.1);",
        " 10.1000/abc.1 ",
    ],
)
def test_doi_spellings_become_one_id(raw: str) -> None:
    result = paper({"title": "T", "doi": raw})
    assert result.doi == result.id == "10.1000/abc.1"
    assert result.doi_text is None


@pytest.mark.parametrize("raw", ["10.1000", "not-a-doi", "doi:", "11.1000/abc"])
def test_invalid_doi_is_kept_as_text_not_used_as_id(raw: str) -> None:
    result = paper({"title": "A paper", "doi": raw, "authors": "A B"})
    assert result.doi is None
    assert result.doi_text == raw.strip()
    assert result.id.startswith("sf-")
    assert "invalid_doi" in result.flags


@pytest.mark.parametrize(
    ("raw", "value", "precision"),
    [
        ("2025", "2025-01-01", Precision.YEAR),
        ("2025-09", "2025-09-01", Precision.MONTH),
        ("2025-09-17", "2025-09-17", Precision.DAY),
        ("Sep 17, 2025", "2025-09-17", Precision.DAY),
    ],
)
def test_dates_keep_their_precision(raw: str, value: str, precision: Precision) -> None:
    published = paper({"title": "T", "publicationDate": raw}).published
    assert (str(published.value), published.precision) == (value, precision)


@pytest.mark.parametrize("raw", ["", " ", "2025-13-01", "2025-02-30", "0000", "Smarch 3, 2025"])
def test_empty_and_impossible_dates_are_none_not_errors(raw: str) -> None:
    assert paper({"title": "T", "publicationDate": raw}).published is None


def test_falls_back_to_epub_date_when_publication_date_is_impossible() -> None:
    result = paper({"title": "T", "publicationDate": "2025-02-30", "EPubDate": "2025-03"})
    assert str(result.published.value) == "2025-03-01"


@pytest.mark.parametrize(
    ("raw", "count"), [("1,234", 1234), ("N/A", None), ("", None), ("12", 12), ("-3", None)]
)
def test_numbers_as_strings(raw: str, count: int | None) -> None:
    assert paper({"title": "T", "citationCount": raw}).citation_count == count


@pytest.mark.parametrize("raw", ["99999999999", 2**70, -3])
def test_impossible_counts_are_dropped_and_flagged(raw: str | int) -> None:
    result = paper({"title": "T", "citationCount": raw})
    assert result.citation_count is None
    assert "invalid_citation_count" in result.flags


def test_impact_factor_as_string_with_thousands_and_blank() -> None:
    assert paper({"title": "T", "PeriodicalIF": "2.900"}).impact_factor == pytest.approx(2.9)
    assert paper({"title": "T", "PeriodicalIF": "N/A"}).impact_factor is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("False", False),
        ("yes", True),
        ("0", False),
        ("是", True),
        ("maybe", None),
        ("", None),
    ],
)
def test_booleans_as_strings(raw: str, value: bool | None) -> None:
    assert paper({"title": "T", "isOpenAccess": raw}).open_access is value


@pytest.mark.parametrize(
    "authors",
    [
        "Li Wei, Zhang San, Wang Wu",
        "Li Wei; Zhang San; Wang Wu",
        "Li Wei、Zhang San、Wang Wu",
        "Li Wei，Zhang San，Wang Wu",
        ["Li Wei", {"name": "Zhang San"}, {"given": "Wang", "family": "Wu"}],
    ],
)
def test_author_separators_and_lists(authors: str | list) -> None:
    names = [a.name for a in paper({"title": "T", "authors": authors}).authors]
    assert names == ["Li Wei", "Zhang San", "Wang Wu"]


def test_every_record_of_a_batch_gets_exactly_one_outcome(tmp_path: Path) -> None:
    feed = write_lines(
        tmp_path / "mixed.jsonl",
        good_line(1),
        b"{broken",
        b"[]",
        b'{"abstract": "no title"}',
        b"\xff\xfe\xfd\x00\x81",
        good_line(6),
    )
    records = list(read_records([feed]))
    papers, rejections = decode_records(records)
    assert len(papers) + len(rejections) == len(records) == 6
    locations = [p.provenance[0].location for p in papers] + [r.location for r in rejections]
    assert sorted(locations) == sorted(f"line {n}" for n in range(1, 7))
