"""The PubMed XML reader's fast path (tasks/fetch/medline.py): the file read in blocks, the
lists no field reads (references, comments and corrections, history) left out of each record's
parse, and one pass over an article's children. Checked against lxml parsing each recorded
article whole, and on the cases where leaving the lists out could go wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from lxml import etree

from tasks.fetch import read_source
from tasks.fetch.medline import _payload

MEDLINE = Path(__file__).parent / "fixtures" / "formats" / "medline"
RECORDED = sorted(MEDLINE.glob("*.xml"))
ARTICLES = ("PubmedArticle", "PubmedBookArticle")


def _whole(path: Path) -> list[dict]:
    """Each article of the file parsed whole by lxml, then read into its payload."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    return [_payload(e) for e in root.getroot() if e.tag in ARTICLES]


@pytest.mark.parametrize("path", RECORDED, ids=[p.name for p in RECORDED])
def test_every_recorded_article_reads_as_lxml_reads_it_whole(path: Path, tmp_path: Path) -> None:
    expected = _whole(path)
    assert expected or path.name == "pubmed_update_with_deletions.xml"
    read = [r.payload for r in read_source(str(path), deletions=[])]
    assert read == expected
    # Gzipped, the blocks are cut elsewhere: the same articles.
    packed = tmp_path / f"{path.name}.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.payload for r in read_source(str(packed), deletions=[])] == expected


def test_the_lists_left_out_hold_nothing_that_is_read(tmp_path: Path) -> None:
    """Every recorded file holds at least one of the lists, and the reference list of one of
    them names other articles' titles and ids: none of it reaches the article's fields."""
    held = [p for p in RECORDED if b"<ReferenceList" in p.read_bytes()]
    assert held, "a recorded article with references"
    for path in held:
        (article, *_) = [r.payload for r in read_source(str(path), deletions=[])]
        assert article is not None and article["pmid"]
        references = etree.parse(str(path)).getroot().find(".//ReferenceList")
        cited = {"".join(t.itertext()) for t in references.iter("ArticleId")}
        assert not cited & set(article["ids"].values())


def test_a_cdata_section_that_names_a_list_falls_back_to_the_whole_record(
    tmp_path: Path,
) -> None:
    """`<History>` as text inside a CDATA section: leaving the list out from there would break
    the record, so it is parsed whole, and every character of the abstract is kept."""
    text = (MEDLINE / "zotero_pubmed_two_articles.xml").read_text("utf-8")
    start = text.index("<AbstractText")
    body = text.index(">", start) + 1
    kept = "values <History> and a<b stay"
    path = tmp_path / "cdata.xml"
    path.write_text(text[:body] + f"<![CDATA[{kept}]]> " + text[body:], "utf-8")
    first, second = read_source(str(path), deletions=[])
    assert first.error is None and second.error is None
    assert first.payload is not None
    assert any(kept in section["text"] for section in first.payload["abstract"])


def test_a_fault_inside_a_left_out_list_is_located_in_the_record_as_it_stands(
    tmp_path: Path,
) -> None:
    text = (MEDLINE / "biopython_pubmed7.xml").read_text("utf-8")
    assert "<History>" in text
    broken = text.replace("</History>", "</Histroy>", 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken, "utf-8")
    (record,) = read_source(str(path), deletions=[])
    assert record.error == "malformed PubMed XML"
    record_start = broken.index("<PubmedArticle>")
    fault = broken.index("</Histroy>")
    line_in_record = broken.count("\n", record_start, fault) + 1
    assert f"(line {line_in_record} of the record)" in (record.detail or "")
    assert record.raw_bytes is not None and b"</Histroy>" in record.raw_bytes


def test_a_url_is_read_in_blocks_as_a_file_is() -> None:
    """PubMed XML streamed from a local HTTP server (plain and gzipped): the same articles."""
    from tests.fixture_server import FixtureServer, Reply

    path = MEDLINE / "zotero_pubmed_two_articles.xml"
    expected = _whole(path)
    with FixtureServer() as server:
        server.routes["/two.xml"] = [Reply(200, path.read_bytes(), {"content-type": "text/xml"})]
        packed = gzip.compress(path.read_bytes())
        server.routes["/two.xml.gz"] = [Reply(200, packed, {"content-type": "application/gzip"})]
        for name in ("two.xml", "two.xml.gz"):
            read = [r.payload for r in read_source(f"{server.url}/{name}", deletions=[])]
            assert read == expected and len(read) == 2
