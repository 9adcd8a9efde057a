"""DOI normalisation: one spelling per DOI."""

from __future__ import annotations

import pytest

from scholarflow.paper.doi import find_doi, looks_like_doi_query, normalize_doi


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.1080/25785826.2025.2563427", "10.1080/25785826.2025.2563427"),
        ("https://doi.org/10.1080/25785826.2025.2563427", "10.1080/25785826.2025.2563427"),
        ("http://dx.doi.org/10.1371/JOURNAL.PONE.0033693", "10.1371/journal.pone.0033693"),
        ("doi:10.1038/srep16696", "10.1038/srep16696"),
        ("DOI: 10.1038/SREP16696 ", "10.1038/srep16696"),
        (
            "HTTPS://DOI.ORG/10.3969/J.ISSN.1005-9628.2021.01.001",
            "10.3969/j.issn.1005-9628.2021.01.001",
        ),
        ("10.1038/srep16696.", "10.1038/srep16696"),
        ("https://doi.org/10.1000%2Fxyz", "10.1000/xyz"),
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalize_doi(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "10.12/x", "not a doi", "https://example.org/paper"]
)
def test_rejects_non_dois(raw: str | None) -> None:
    assert normalize_doi(raw) is None


def test_finds_doi_in_text() -> None:
    assert find_doi("see https://doi.org/10.1000/ABC, p. 4") == "10.1000/abc"


def test_doi_queries() -> None:
    assert looks_like_doi_query("https://doi.org/10.1000/abc")
    assert not looks_like_doi_query("rituximab 10.1000/abc")
