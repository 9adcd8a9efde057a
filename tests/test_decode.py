"""Decoding the aggregator's records into canonical papers."""

from __future__ import annotations

import json

import pytest

from scholarflow.paper.models import EnrichmentStatus, Paper, Precision, RawRecord, Rejection, Stage
from tasks.decode import decode_record
from tasks.fetch import read_records
from tests.conftest import SEED_RECORDS

ORIGINAL = SEED_RECORDS / "000_a3a9f962eae85f56.txt"


@pytest.fixture(scope="module")
def seed_paper() -> Paper:
    (record,) = list(read_records([ORIGINAL]))
    paper = decode_record(record)
    assert isinstance(paper, Paper)
    return paper


def seed_payload() -> dict:
    return json.loads(ORIGINAL.read_text(encoding="utf-8").splitlines()[0])


def decode(payload: dict, **extras: str) -> Paper | Rejection:
    return decode_record(RawRecord("test.jsonl", "line 1", payload=payload, extras=extras))


def test_seed_titles_go_to_their_language(seed_paper: Paper) -> None:
    # `title` holds the Chinese translation; the English title lives in the double-encoded resultStr
    assert seed_paper.title_zh == "利妥昔单抗成功治疗系统性红斑狼疮患者致生命的难治性白细胞减少。"
    assert seed_paper.title_en.startswith("Life-threatening refractory leukopenia")
    assert seed_paper.languages == ["en", "zh"]
    assert seed_paper.zh_script == "simplified"


def test_seed_english_title_comes_from_result_str_without_the_text_lines() -> None:
    paper = decode(seed_payload())
    assert paper.title_en.startswith("Life-threatening refractory leukopenia")
    assert paper.title_zh.startswith("利妥昔单抗")


def test_seed_html_abstract_becomes_clean_text() -> None:
    paper = decode(seed_payload())  # no side-car lines: the HTML abstract is the only source
    assert paper.abstract_en.startswith("Leukopenia can occur because of lymphopenia")
    assert "375 mg/m2 weekly" in paper.abstract_en  # <sup>2</sup> joins the word it belongs to
    assert "<" not in paper.abstract_en and "&" not in paper.abstract_en


def test_seed_numbers_blanks_and_identifiers(seed_paper: Paper) -> None:
    assert seed_paper.citation_count == 0  # "0"
    assert seed_paper.journal.volume is None  # " "
    assert seed_paper.pdf_url is None  # ""
    assert seed_paper.journal.name == "Immunological Medicine"
    assert seed_paper.journal.pages == "1-5"
    assert seed_paper.impact_factor == pytest.approx(2.9)
    assert (seed_paper.jcr_quartile, seed_paper.jcr_subject) == ("Q3", "IMMUNOLOGY")
    assert seed_paper.open_access is False
    assert seed_paper.publication_type == "Journal Article"
    assert seed_paper.source_platform == "Semanticscholar"
    assert seed_paper.source_url == "https://doi.org/10.1080/25785826.2025.2563427"


def test_seed_doi_is_the_id(seed_paper: Paper) -> None:
    assert seed_paper.doi == "10.1080/25785826.2025.2563427"
    assert seed_paper.id == seed_paper.doi


def test_seed_authors_and_date(seed_paper: Paper) -> None:
    assert [a.name for a in seed_paper.authors] == [
        "Shunichiro Hanai",
        "Yoshiaki Kobayashi",
        "Daiki Nakagomi",
    ]
    assert str(seed_paper.published.value) == "2025-09-17"
    assert seed_paper.published.precision is Precision.DAY


def test_seed_provenance_names_file_and_line(seed_paper: Paper) -> None:
    (origin,) = seed_paper.provenance
    assert origin.source.endswith("000_a3a9f962eae85f56.txt")
    assert origin.location == "line 1"
    assert seed_paper.enrichment.status is EnrichmentStatus.PENDING


def test_chinese_in_cn_keys_and_english_title_key() -> None:
    payload = {
        "title": "A study of spiders",
        "TitleCN": "蜘蛛研究",
        "AbstractTextCN": "<p>摘要</p>",
    }
    paper = decode(payload)
    assert (paper.title_en, paper.title_zh, paper.abstract_zh) == (
        "A study of spiders",
        "蜘蛛研究",
        "摘要",
    )


def test_traditional_chinese_is_folded_to_simplified() -> None:
    paper = decode({"title": "系統性紅斑狼瘡的治療"})
    assert paper.title_zh == "系统性红斑狼疮的治疗"
    assert paper.zh_script == "traditional"


def test_full_width_latin_is_folded() -> None:
    paper = decode({"title": "ＤＮＡ　ｒｅｐａｉｒ ２０２５"})
    assert paper.title_en == "DNA repair 2025"


def test_script_and_style_are_dropped() -> None:
    paper = decode(
        {"title": "T", "abstract": "<p>Text<script>alert(1)</script><style>p{}</style> end</p>"}
    )
    assert paper.abstract_en == "Text end"


def test_doi_found_in_list_url_when_doi_field_is_empty() -> None:
    paper = decode({"title": "T", "doi": "", "ListUrlMain": "https://doi.org/10.1000/ABC.1"})
    assert paper.doi == "10.1000/abc.1"


def test_invalid_doi_is_kept_as_text_not_as_id() -> None:
    paper = decode(
        {"title": "A paper", "doi": "not-a-doi", "authors": "A B", "publicationDate": "2020"}
    )
    assert paper.doi is None and paper.doi_text == "not-a-doi"
    assert paper.id.startswith("sf-")
    assert "invalid_doi" in paper.flags


def test_stable_id_without_doi_ignores_formatting() -> None:
    one = decode(
        {"title": "Spiders of China", "authors": "Li Wei, Zhang San", "publicationDate": "2021-03"}
    )
    two = decode({"title": "  spiders of CHINA ", "authors": ["Li Wei"], "publicationDate": "2021"})
    other = decode({"title": "Spiders of Japan", "authors": "Li Wei", "publicationDate": "2021"})
    assert one.id == two.id != other.id


def test_partial_dates_keep_their_precision() -> None:
    assert (
        decode({"title": "T", "publicationDate": "2021-03"}).published.precision is Precision.MONTH
    )
    assert decode({"title": "T", "publicationDate": "2021"}).published.precision is Precision.YEAR
    assert decode({"title": "T", "publicationDate": "2021-02-30"}).published is None


def test_record_without_title_is_rejected_with_reason() -> None:
    result = decode({"abstract": "   ", "doi": "10.1000/x"})
    assert isinstance(result, Rejection)
    assert (result.stage, result.reason) == (Stage.DECODE, "no title in any language")
    assert (result.source, result.location) == ("test.jsonl", "line 1")


def test_fetch_errors_become_rejections_naming_the_line() -> None:
    record = RawRecord("bad.jsonl", "line 7", raw="{oops", error="invalid JSON: unexpected")
    result = decode_record(record)
    assert isinstance(result, Rejection)
    assert result.stage is Stage.FETCH and result.location == "line 7"


def test_every_seed_record_decodes() -> None:
    results = [decode_record(r) for r in read_records([SEED_RECORDS])]
    manifest = json.loads((SEED_RECORDS.parent / "MANIFEST.json").read_text(encoding="utf-8"))
    assert len(results) == len(manifest)
    assert all(isinstance(r, Paper) for r in results), [
        r for r in results if not isinstance(r, Paper)
    ]
    by_doi = {p.doi: p for p in results if p.doi}
    for entry in manifest:
        if entry["doi"] and entry["title_zh"]:
            assert by_doi[entry["doi"]].title_zh is not None, entry["file"]


def test_traditional_author_names_are_folded_like_titles() -> None:
    paper = decode({"title": "白斑獵蛛的捕食作用", "authors": "王菊, 李豐羽, 張安明, Jun Xu"})
    assert [a.name for a in paper.authors] == ["王菊", "李丰羽", "张安明", "Jun Xu"]


@pytest.mark.parametrize(
    ("journal", "periodical", "expected"),
    [
        (
            {"name": "Acta Entomologica Sinica"},
            "昆虫学报",
            ("Acta Entomologica Sinica", "昆虫学报"),
        ),
        ({"name": "蛛形學報"}, "蛛形学报", (None, "蛛形学报")),
        (
            {"name": "Asian Herpetological Research"},
            "亞洲兩棲爬行動物研究",
            ("Asian Herpetological Research", "亚洲两栖爬行动物研究"),
        ),
        (None, "Science", ("Science", None)),
    ],
)
def test_journal_names_in_both_languages_from_either_key(
    journal: dict | None, periodical: str, expected: tuple[str | None, str | None]
) -> None:
    paper = decode({"title": "A title", "journal": journal, "PeriodicalName": periodical})
    assert (paper.journal.name, paper.journal.name_zh) == expected


def test_author_names_are_folded_to_simplified_one_by_one() -> None:
    """All of a record's names are converted at once: each stays a name of its own, also one
    that spans two lines of the source."""
    names = ["張偉", "Li Ming", "陳靜\n王芳", "劉洋"]
    paper = decode_record(RawRecord("f.jsonl", "line 1", payload={"title": "T", "authors": names}))
    assert [a.name for a in paper.authors] == ["张伟", "Li Ming", "陈静\n王芳", "刘洋"]
    listed = {"title": "T", "authors": "張偉, Li Ming, 劉洋"}
    paper = decode_record(RawRecord("f.jsonl", "line 1", payload=listed))
    assert [a.name for a in paper.authors] == ["张伟", "Li Ming", "刘洋"]
