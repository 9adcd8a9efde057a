"""The file formats, read and decoded from recorded real exports (tests/fixtures/formats/, see
its README): PubMed/MEDLINE XML, RIS, BibTeX, EndNote, RefWorks and NoteExpress, with their
ids, ORCIDs, affiliations and languages; broken records located by file and line; encodings
and formats detected. No engine here: test_formats_ingest.py takes the same files to the
index."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from scholarflow.paper.models import Paper, RawRecord, Rejection
from tasks.decode import decode_record
from tasks.fetch import Deletion, SourceError, expand_sources, read_records, read_source, reparse
from tasks.fetch.text_files import UnknownFormatError, check_format, sniff_format

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def read(path: Path, **kwargs) -> list[RawRecord]:
    return list(read_source(str(path), **kwargs))


def papers(path: Path, **kwargs) -> list[Paper]:
    decoded = [decode_record(r) for r in read(path, **kwargs)]
    assert all(isinstance(p, Paper) for p in decoded), decoded
    return decoded  # type: ignore[return-value]


def test_medline_article_with_mathml_orcids_and_affiliations() -> None:
    (paper,) = papers(FORMATS / "medline" / "biopython_pubmed7.xml")
    assert paper.pmid == "29963580" and paper.pmcid == "PMC6022861"
    assert paper.doi == "10.1117/1.jmi.5.2.026002"
    # MathML is kept as its text: "inhaled ³He/¹²⁹Xe MRI" written with mml:mmultiscripts
    assert "inhaled He 3 / Xe 129 MRI ventilation" in (paper.abstract_en or "")
    orcids = {a.name: a.orcid for a in paper.authors if a.orcid}
    assert orcids == {
        "Dante Capaldi": "0000-0002-4590-7461",
        "Aaron Fenster": "0000-0003-3525-2788",
    }
    assert paper.authors[0].affiliations[0].startswith("University of Western Ontario")
    assert paper.authors[-1].name == "Canadian Respiratory Research Network"
    assert paper.journal.issn == ["2329-4302"]
    assert paper.language == "eng" and paper.source_platform == "PubMed"
    assert "magnetic resonance imaging" in paper.keywords


def test_medline_structured_abstract_keeps_labels_and_escaped_brackets() -> None:
    (paper,) = papers(FORMATS / "medline" / "biopython_pubmed4.xml")
    abstract = paper.abstract_en or ""
    assert abstract.startswith("OBJECTIVE: Telomere shortening")
    assert [line.split(":")[0] for line in abstract.splitlines()] == [
        "OBJECTIVE",
        "DESIGN",
        "RESULTS",
        "CONCLUSIONS",
    ]
    assert paper.published is not None and paper.published.value.isoformat() == "2017-06-01"
    two = papers(FORMATS / "medline" / "biopython_pubmed2.xml")
    assert "(P < 0.001)" in (two[0].abstract_en or "")  # `&lt;` in the XML, `<` in the index


def test_medline_book_article_and_two_article_set() -> None:
    (book,) = papers(FORMATS / "medline" / "zotero_pubmed_book_article.xml")
    assert book.title_en == "Endocrinology: An Integrated Approach"
    assert [a.name for a in book.authors] == ["Stephen Nussey", "Saffron Whitehead"]
    assert book.publication_type == "Book" and book.pmid == "20821847"
    records = read(FORMATS / "medline" / "zotero_pubmed_two_articles.xml")
    assert [r.location for r in records] == ["record 1 (line 4)", "record 2 (line 250)"]


def test_medline_update_file_deletions_are_read_not_dropped(tmp_path: Path) -> None:
    source = FORMATS / "medline" / "pubmed_update_with_deletions.xml"
    deletions: list[Deletion] = []
    records = read(source, deletions=deletions)
    assert len(records) == 2 and all(r.payload for r in records)
    assert [d.ids for d in deletions] == [["11748934", "11748935"]]
    # Without a list to put them in, a deletion becomes a rejected record, never nothing.
    unkept = read(source)
    assert [r.error for r in unkept if r.error] == ["deletion not applied"]
    # gzip, as PubMed ships baseline and update files
    packed = tmp_path / "pubmed26n1500.xml.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    assert len(read(packed, deletions=[])) == 2


def test_a_malformed_medline_record_costs_itself_only(tmp_path: Path) -> None:
    text = (FORMATS / "medline" / "zotero_pubmed_two_articles.xml").read_text("utf-8")
    broken = text.replace("</ArticleTitle>", "</ArticleTitel>", 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken, "utf-8")
    first, second = read(path)
    assert first.error == "malformed PubMed XML" and first.location == "record 1 (line 4)"
    assert "ArticleTitel" in (first.detail or "") or "mismatch" in (first.detail or "")
    assert second.payload and second.payload["pmid"] == "18157123"
    again = reparse(str(path), first.location, first.raw_bytes or b"", {}, "medline")
    assert [r.error for r in again] == ["malformed PubMed XML"]


def test_an_html_error_page_is_not_medline(tmp_path: Path) -> None:
    page = tmp_path / "efetch.xml"
    page.write_text("<html><body><h1>503 Service Unavailable</h1></body></html>\n")
    (record,) = read(page)
    assert record.error and record.error.startswith("not PubMed XML")


def test_ris_records_from_rispy_and_zotero() -> None:
    full = papers(FORMATS / "ris" / "rispy_example_full.ris")
    assert [p.title_en for p in full] == ["Title of reference", "The title of the reference"]
    assert full[0].authors[0].name == "Karl Marx"
    assert full[0].keywords == ["Pippi", "Nordwind", "Piraten"]
    assert full[0].journal.issn == ["1932-6208"] and full[0].journal.pages == "e0815"
    assert full[0].published is not None and full[0].published.year == 2014
    (cyrillic,) = papers(FORMATS / "ris" / "rispy_example_utf_chars.ris")  # UTF-8 with a BOM
    assert cyrillic.title_en and cyrillic.title_en.startswith("Состояние рецепторного")  # ST
    assert cyrillic.journal.name == "Gynecology, Obstetrics and Perinatology"
    # a record with a DOI and no title at all is rejected, with the reason, not dropped
    (untitled,) = read(FORMATS / "ris" / "rispy_example_bom.ris")
    rejected = decode_record(untitled)
    assert isinstance(rejected, Rejection) and rejected.reason == "no title in any language"
    (zotero,) = papers(FORMATS / "ris" / "zotero_ris_10.ris")
    assert zotero.doi == "10.17910/b7.1322" and zotero.title_en.startswith("Moving language")


def test_noteexpress_from_wanfang_and_cnki() -> None:
    wanfang = papers(FORMATS / "noteexpress" / "wanfang_demo_202101.net")
    assert len(wanfang) == 20
    first = wanfang[0]
    assert first.title_zh == "超声引导下前锯肌平面阻滞对乳腺癌改良根治术术后肿瘤转移、复发的影响"
    assert first.title_en and first.title_en.startswith("Influence of ultrasound-guided")
    assert [a.name for a in first.authors] == ["江文杰", "韩超", "顾达民"]
    assert first.authors[0].affiliations == ["宜兴市人民医院"]
    assert first.journal.name_zh == "临床检验杂志(电子版)"
    assert first.journal.name == "Clinical Laboratory Journal (Electronic Edition)"
    assert first.language == "chi" and first.doi is None  # this Wanfang record has no DOI
    # the real abstract's "(P<0.05)" reaches the paper: the `<` starts no markup
    assert (first.abstract_zh or "").count("P<0.05") == 4
    cnki = papers(FORMATS / "noteexpress" / "cnki_Classic5Test.net")
    assert cnki[0].abstract_en and cnki[0].abstract_en.startswith("This paper contributes")
    assert [a.name for a in cnki[2].authors][:3] == ["齐淑霞", "刘圣", "李鹏"]
    assert cnki[2].keywords == ["偏振态", "空间光调制器", "矢量光场"]
    assert cnki[0].source_platform == "CNKI"


def test_a_gb18030_export_decodes_to_the_same_papers() -> None:
    utf8 = papers(FORMATS / "noteexpress" / "wanfang_demo_202101.net")
    gb = papers(FORMATS / "noteexpress" / "wanfang_demo_202101_gb18030.net")
    assert [p.title_zh for p in gb] == [p.title_zh for p in utf8]
    assert [p.abstract_zh for p in gb] == [p.abstract_zh for p in utf8]
    assert all("encoding_gb18030" in p.flags for p in gb)
    (gbk,) = papers(FORMATS / "bibtex" / "bibtexparser_gbk_test.bib")
    assert gbk.authors[0].name == "凯撒" and gbk.journal.name_zh == "测试期刊"


def test_endnote_refworks_and_bibtex() -> None:
    (endnote,) = papers(FORMATS / "endnote" / "zotero_refer_0.enw")
    assert endnote.title_zh == "参考文献管理工具研究"
    assert endnote.doi == "10.3969/j.issn.1008-0821.2009.02.027"
    assert endnote.journal.name_zh == "现代情报"
    assert endnote.journal.name == "JOURNAL OF MODERN INFORMATION"
    (refworks,) = papers(FORMATS / "refworks" / "zotero_refworks_2.txt")
    assert [a.name for a in refworks.authors] == ["Steven Allan", "Paul Gilbert"]
    assert refworks.journal.pages == "551-565" and refworks.journal.issn == ["0191-8869"]
    assert refworks.published is not None and refworks.published.value.isoformat() == "2002-02-01"
    bib = papers(FORMATS / "bibtex" / "pubmed_parser_paper.bib")
    assert bib[0].authors[0].name == "Jurica Ševa" and bib[0].authors[2].name == "Julian Götze"
    assert len(bib[0].authors) == 10  # "and others" is no author
    (cardio,) = papers(FORMATS / "bibtex" / "zotero_bibtex_10.bib")
    assert cardio.journal.issn == ["1524-4539"] and cardio.language == "eng"
    assert cardio.published is not None and cardio.published.value.isoformat() == "2013-03-01"


def test_a_broken_bibtex_entry_is_located_and_the_rest_read(tmp_path: Path) -> None:
    text = (FORMATS / "bibtex" / "pubmed_parser_paper.bib").read_text("utf-8")
    entries = text.split("\n@")
    broken = "\n@".join([*entries[:3], "article{cut, title = {Never closed,", *entries[3:]])
    path = tmp_path / "refs.bib"
    path.write_text(broken, "utf-8")
    records = read(path)
    failed = [r for r in records if r.error]
    assert len(failed) == 1 and failed[0].error == "invalid BibTeX entry"
    line = broken.splitlines().index("@article{cut, title = {Never closed,") + 1
    assert failed[0].location == f"line {line}"
    assert len(records) - 1 == text.count("\n@") + (text.startswith("@"))


def test_a_ris_record_that_lost_its_first_line_is_rejected_with_its_line(tmp_path: Path) -> None:
    text = (FORMATS / "ris" / "rispy_example_full.ris").read_text("utf-8")
    headless = text.replace("2.\nTY  - JOUR\n", "2.\n", 1)
    path = tmp_path / "export.ris"
    path.write_text(headless + text, "utf-8")
    records = read(path)
    stray = [r for r in records if r.error]
    assert [r.error for r in stray] == ["text outside any record"]
    assert stray[0].location == f"line {headless.splitlines().index('ID  - 12345', 5) + 1}"
    assert sum(1 for r in records if r.payload) == 3


def test_a_file_in_no_encoding_is_one_rejection(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ris"
    path.write_bytes(bytes(range(128, 256)) * 20)
    (record,) = read(path)
    assert record.error == "not text in UTF-8 or any other encoding"
    assert record.location == "document" and record.detail == "byte 0x80 at offset 0 is not UTF-8"


def test_formats_are_known_by_name_and_lines_and_can_be_forced(tmp_path: Path) -> None:
    assert sniff_format("{Reference Type}: Journal Article\n") == "noteexpress"
    assert sniff_format("\ufeffTY  - JOUR\n") == "ris"
    assert sniff_format("Refworks Export Tagged Format\n\nRT Journal\n") == "refworks"
    assert sniff_format('{"title": "x"}\nTitle\nAbstract\n') is None
    assert check_format("ris") == "ris"
    with pytest.raises(UnknownFormatError, match="unknown format 'nbib'"):
        check_format("nbib")
    # a CNKI RefWorks export saved as .txt is read as RefWorks, not as the three-line shape
    txt = tmp_path / "cnki.txt"
    shutil.copy(FORMATS / "refworks" / "zotero_refworks_2.txt", txt)
    assert {r.format for r in read(txt)} == {"refworks"}
    # a name that says nothing: refused unless the format is forced
    odd = tmp_path / "export.dat"
    shutil.copy(FORMATS / "endnote" / "zotero_refer_0.enw", odd)
    with pytest.raises(SourceError, match="unsupported file type"):
        list(expand_sources([odd]))
    (forced,) = list(read_records([odd], format="endnote"))
    assert forced.format == "endnote" and forced.payload and forced.payload["%T"]


def test_every_recorded_export_is_read_with_every_record_counted() -> None:
    """The record count per file, from the files themselves (start tags, entry lines)."""
    expected = {
        "medline": sum(
            p.read_text("utf-8").count("<PubmedArticle>")
            + p.read_text("utf-8").count("<PubmedBookArticle>")
            for p in (FORMATS / "medline").glob("*.xml")
        ),
        "ris": sum(
            p.read_text("utf-8-sig").count("TY  - ") for p in (FORMATS / "ris").glob("*.ris")
        ),
        "noteexpress": sum(
            p.read_bytes().count(b"{Reference Type}:") for p in (FORMATS / "noteexpress").iterdir()
        ),
        "refworks": sum(
            sum(line.startswith("RT ") for line in p.read_text("utf-8").splitlines())
            for p in (FORMATS / "refworks").iterdir()
        ),
        "bibtex": sum(
            sum(
                line.startswith(b"@") and not line.lower().startswith((b"@comment", b"@string"))
                for line in p.read_bytes().splitlines()
            )
            for p in (FORMATS / "bibtex").glob("*.bib")
        ),
    }
    deletions: list[Deletion] = []
    records = list(read_records([FORMATS], deletions=deletions))
    counted: dict[str, int] = {}
    for record in records:
        assert record.format is not None
        counted[record.format] = counted.get(record.format, 0) + 1
    assert {k: counted[k] for k in expected} == expected
    assert counted["endnote"] == 4  # one record a file, one of them without %0
    assert not [r for r in records if r.error]


def test_an_unknown_format_is_one_line_and_non_zero(tmp_path: Path) -> None:
    from tests.cli_helpers import run_cli

    result = run_cli(
        "ingest",
        str(FORMATS / "ris"),
        "--format",
        "nbib",
        env={"SCHOLARFLOW_HOME": str(tmp_path), "SCHOLARFLOW_ES_URL": "http://127.0.0.1:9"},
        cwd=tmp_path,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr == (
        "error: unknown format 'nbib' (use one of medline, ris, bibtex, endnote, refworks, "
        "noteexpress)\n"
    )


def test_the_formats_benchmark_measures_every_shape(tmp_path: Path) -> None:
    """The benchmark's corpora hold whole records of each format (no figure is judged here)."""
    from benchmarks.formats import HARVESTED, SHAPES, corpus, fetch_and_decode, measure

    for shape in SHAPES:
        path = corpus(shape, 200, tmp_path)
        assert fetch_and_decode([path]) >= 100, shape
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(
        (Path(__file__).parent.parent / "seeds" / "records" / "000_a3a9f962eae85f56.txt").read_text(
            "utf-8"
        )
    )
    rows = measure(seeds, 50, 1)
    assert set(rows) == {"format_aggregator", *(f"format_{s}" for s in (*SHAPES, *HARVESTED))}
    assert all(row.records > 0 and row.seconds > 0 for row in rows.values())
    assert "× the aggregator's time a record" in rows["format_medline"].detail
