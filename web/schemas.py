"""The API's answers as pydantic models: FastAPI serves them as the OpenAPI schema
(`/api/openapi.json`), and the contract tests hold every answer to it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MatchedBy = Literal["words", "meaning", "translation"]


class Correction(BaseModel):
    status: str = Field(description="retracted, withdrawn, expression_of_concern, corrected, …")
    notice_doi: str | None
    notice_date: str | None


class Hit(BaseModel):
    id: str
    doi: str | None
    title_en: str | None
    title_zh: str | None
    score: float | None
    highlight: list[str] = Field(description="Fragments; matched words between « and ».")
    year: int | None
    journal: str | None
    correction: Correction | None
    index: str
    matched_by: list[MatchedBy] = Field(
        description="How the paper matched: words, meaning, translation (the query's words "
        "translated into Chinese)."
    )
    across_languages: bool = Field(
        description="Found by meaning or by translated words in a paper without text in the "
        "query's language."
    )


class Bucket(BaseModel):
    value: str | int | bool
    count: int


class SearchResult(BaseModel):
    query: str
    total: int
    page: int
    size: int
    numbered_pages: int = Field(description="Pages reachable by number; past them, next_cursor.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the page after this one.")
    hits: list[Hit]
    facets: dict[str, list[Bucket]] | None = None


class Suggestion(BaseModel):
    text: str
    id: str
    doi: str | None
    via: Literal["completion", "search_as_you_type"]


class Suggestions(BaseModel):
    prefix: str
    suggestions: list[Suggestion]


class Author(BaseModel):
    name: str
    orcid: str | None


class Journal(BaseModel):
    name: str | None
    name_zh: str | None
    volume: str | None
    issue: str | None
    pages: str | None
    publisher: str | None
    issn: list[str]


class Published(BaseModel):
    value: str | None = None
    precision: str | None = None


class Paper(BaseModel):
    id: str
    doi: str | None
    title_en: str | None
    title_zh: str | None
    abstract_en: str | None
    abstract_zh: str | None
    authors: list[Author]
    journal: Journal
    year: int | None
    published: Published | None
    languages: list[str]
    publication_type: str | None
    open_access: bool | None
    pdf_url: str | None
    source_url: str | None
    license_url: str | None
    subjects: list[str]
    citations: int | None
    references_count: int | None
    correction: Correction | None
    former_ids: list[str] = Field(description="Ids this paper had before it moved to its DOI.")


class Status(BaseModel):
    engine: str = Field(description="Distribution and version; never its address.")
    alias: str
    index: str | None
    documents: int
    last_indexed: str | None
    corrections: dict[str, int]
    vectors: dict[str, int]
    search: str = Field(description="words, or words and meaning")


class Problem(BaseModel):
    error: str = Field(description="One line saying what was wrong.")
