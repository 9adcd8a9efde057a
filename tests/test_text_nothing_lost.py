"""No visible character of a plain-text abstract is lost, whatever shape it arrives in: the
property is checked for every file format and for today's JSON shapes. A `<` that opens no
known element (`a<b and c>d`, `</=0.3 kb`, `P<0.05`) is text, even inside markup."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scholarflow.paper.models import Paper, RawRecord
from scholarflow.paper.text import PlainText, clean_text, looks_like_markup
from tasks.decode import decode_record
from tasks.fetch import read_source

# Text as abstracts hold it: ASCII (every bracket and entity-like sequence included), Greek and
# mathematical signs. Latin-1 letters are left out: a pair of them can read as mojibake, which
# decoding repairs on purpose (tests/test_decode.py).
ALPHABET = st.sampled_from(
    list(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstu")
    + list("vwxyz{|}~αβγδμ±≤≥→’–")
)
abstracts = st.text(alphabet=ALPHABET, min_size=1, max_size=200).filter(lambda t: t.strip())
# What the issue reported, and what PubMed and CNKI abstracts hold.
KNOWN = [
    "values a<b and c>d",
    "deletions </=0.3 kb were found",
    "(P<0.05) and 1<2>3",
    "a <b> bold claim",
    "x &amp; y &lt; z",
    "<<>> <!-- -->",
]


def visible(text: str | None) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if not ch.isspace())


def decoded(path: Path) -> Paper:
    (record,) = list(read_source(str(path)))
    paper = decode_record(record)
    assert isinstance(paper, Paper), paper
    return paper


def files(tmp_path: Path, text: str) -> dict[str, Path]:
    """One record with `text` as its abstract, in every file format."""
    shapes = {
        "export.ris": f"TY  - JOUR\nTI  - T\nAB  - {text}\nER  - \n",
        "export.enw": f"%0 Journal Article\n%T T\n%X {text}\n",
        "refworks.txt": f"RT Journal Article\nT1 T\nAB {text}\n",
        "export.net": f"{{Reference Type}}: Journal Article\n{{Title}}: T\n{{Abstract}}: {text}\n",
        "pubmed.xml": (
            "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
            f"<ArticleTitle>T</ArticleTitle><Abstract><AbstractText>{escape(text)}"
            "</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>"
            "</PubmedArticleSet>\n"
        ),
    }
    # In the aggregator's three-line shape a line that starts with `{` starts the next record
    # (it is rejected there as invalid JSON, counted): such an abstract line cannot be told apart.
    if not text.lstrip().startswith("{"):
        shapes["three_lines.txt"] = (
            json.dumps({"title": "Titre", "doi": "10.1000/x"}) + f"\nT\n{text}\n"
        )
    paths = {}
    for name, content in shapes.items():
        path = tmp_path / name
        path.write_text(content, "utf-8")
        paths[name] = path
    return paths


FILE_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FILE_SETTINGS
@given(text=abstracts.filter(lambda t: "\n" not in t and "(#br)" not in t))
def test_no_visible_character_of_a_plain_abstract_is_lost_in_any_file_format(
    tmp_path: Path, text: str
) -> None:
    for name, path in files(tmp_path, text).items():
        paper = decoded(path)
        assert visible(paper.abstract_en) == visible(text), name


@FILE_SETTINGS
@given(text=abstracts.filter(lambda t: not set(t) & set('{}\\%@"#')))
def test_no_visible_character_of_a_bibtex_abstract_is_lost(tmp_path: Path, text: str) -> None:
    """Braces, backslashes and `%`, `#`, `"`, `@` are BibTeX syntax, not text: left out."""
    path = tmp_path / "refs.bib"
    path.write_text(f"@article{{k, title = {{T}}, abstract = {{{text}}}}}\n", "utf-8")
    assert visible(decoded(path).abstract_en) == visible(text)


@settings(max_examples=200, deadline=None)
@given(text=abstracts)
def test_plain_json_abstract_without_markup_keeps_every_character(text: str) -> None:
    """Today's JSON shapes do not say whether a field is markup: a value is parsed as HTML only
    when it holds a known element or an entity; every other value is kept as it is."""
    assume(not looks_like_markup(text))
    record = RawRecord("feed.jsonl", "line 1", payload={"title": "T", "abstract": text})
    paper = decode_record(record)
    assert isinstance(paper, Paper)
    assert visible(paper.abstract_en) == visible(text)


@settings(max_examples=200, deadline=None)
@given(text=abstracts)
def test_plain_text_is_never_parsed(text: str) -> None:
    assert visible(clean_text(PlainText(text))) == visible(text)
    assert visible(clean_text(text, markup=False)) == visible(text)


def test_brackets_that_open_no_element_survive_in_every_mode() -> None:
    for text in KNOWN[:3]:
        for markup in (None, True, False):
            assert clean_text(text, markup=markup) == text, (text, markup)
    assert clean_text("a <b> bold claim") == "a bold claim"  # <b> is an element in markup
    assert clean_text("a <b> bold claim", markup=False) == "a <b> bold claim"
    assert clean_text("x &amp; y &lt; z") == "x & y < z"
    assert clean_text("x &amp; y &lt; z", markup=False) == "x &amp; y &lt; z"
    html = "<p>375 mg/m<sup>2</sup>; P<0.05 and a<b and c>d</p>"
    assert clean_text(html) == "375 mg/m2; P<0.05 and a<b and c>d"
    assert clean_text("<jats:p>size </=0.3 kb</jats:p>") == "size </=0.3 kb"


def test_the_aggregator_side_car_abstract_is_plain(tmp_path: Path) -> None:
    """The three-line shape's abstract line has its HTML removed already: a `<b>` there is
    text the author wrote, not bold."""
    path = tmp_path / "records.txt"
    path.write_text(
        json.dumps({"title": "x", "doi": "10.1000/y"}) + "\nT\nwhen a <b> c and x &lt; y\n"
    )
    assert decoded(path).abstract_en == "when a <b> c and x &lt; y"
