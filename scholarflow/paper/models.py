"""The records that flow through Scholarflow, from raw source lines to the canonical `Paper`.

Data moves one way: `RawRecord` (fetch) → `Paper` or `Rejection` (decode) → enriched `Paper`
(enrich) → index document (index). `RunSummary` accounts for every record of a run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scholarflow.errors import ScholarflowError


@dataclass(slots=True)
class RawRecord:
    """One record as read from a source, before any interpretation.

    `payload` is the decoded JSON object; `extras` holds side-car lines (the English title and
    abstract lines of the three-line text format). When the source could not be parsed at all,
    `payload` is None, `error` says why (a short reason that groups well) and `detail` where, so
    the record is still counted and dead-lettered. `raw_bytes` keeps a line that is not text in
    any encoding byte for byte, so a replay sees exactly what the source held. `flags` names
    what reading had to repair (an encoding guessed, control characters tolerated). `line` is
    the JSON line a payload was parsed from as it was, with nothing to repair: a batch travels
    to a worker process as these bytes, parsed again there, not as the objects they became.
    `format` names the shape a harvested or exported record comes in, read by its own decoder.
    """

    source: str
    location: str
    payload: dict[str, Any] | None = None
    extras: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    error: str | None = None
    detail: str | None = None
    raw_bytes: bytes | None = None
    flags: list[str] = field(default_factory=list)
    line: bytes | None = None
    # The shape the payload is in when a reader knows it (`medline`, `ris`, `bibtex`, `endnote`,
    # `refworks`, `noteexpress`, `crossref`, `openalex`, `oai_dc`, `datacite`); None for today's
    # JSON shapes, which decoding tells apart by their keys.
    format: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.location}"


class Stage(StrEnum):
    FETCH = "fetch"
    DECODE = "decode"
    ENRICH = "enrich"
    INDEX = "index"


@dataclass(slots=True)
class Rejection:
    """A record that could not be indexed, with a reason a person can act on."""

    stage: Stage
    reason: str
    source: str
    location: str
    payload: Any = None
    detail: str | None = None


class Precision(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PublishedDate(Strict):
    value: date
    precision: Precision

    @property
    def year(self) -> int:
        return self.value.year


class Author(Strict):
    name: str
    orcid: str | None = None
    affiliations: list[str] = Field(default_factory=list)


class Journal(Strict):
    name: str | None = None
    name_zh: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    issn: list[str] = Field(default_factory=list)
    publisher: str | None = None


class Provenance(Strict):
    source: str
    location: str
    platform: str | None = None
    url: str | None = None


class EnrichmentStatus(StrEnum):
    PENDING = "pending"  # not looked up yet
    ENRICHED = "enriched"  # registry data merged in
    NOT_FOUND = "not_found"  # the registry does not know the DOI
    NO_DOI = "no_doi"  # nothing to look up
    DISABLED = "disabled"  # lookups switched off
    CACHE_MISS = "cache_miss"  # cache-only mode and the DOI is not cached
    FAILED = "failed"  # the registry answered with an error we cannot use
    DEFERRED = "deferred"  # the registry was unreachable: try again later (reenrich)


class Enrichment(Strict):
    status: EnrichmentStatus = EnrichmentStatus.PENDING
    source: str | None = None
    fetched_at: datetime | None = None
    from_cache: bool = False
    detail: str | None = None


class DoiMatch(Strict):
    """How a DOI was sought for a record that came without one (Crossref's bibliographic
    search, scholarflow/registry/matching.py): the candidate judged, the evidence, and the
    outcome. `matched`: the DOI was taken; `refused`: candidates, none acceptable (`reason`
    says why); `no_answer`: Crossref had none; `skipped`: the record lacks a title, first
    author or year to search by; `cache_miss`, `deferred`, `failed`: as for DOI lookups."""

    status: Literal[
        "matched", "refused", "no_answer", "skipped", "cache_miss", "deferred", "failed"
    ]
    doi: str | None = None
    score: float | None = None
    title_similarity: float | None = None
    year: int | None = None
    author: str | None = None
    query: str | None = None
    reason: str | None = None


class FieldConflict(Strict):
    """A field where the source and the registry disagree; both values are kept."""

    field: str
    source_value: str
    registry_value: str


class CorrectionStatus(StrEnum):
    """What Crossmark updates say of a paper, most serious first
    (scholarflow/paper/corrections.py)."""

    RETRACTED = "retracted"  # retraction, partial_retraction
    WITHDRAWN = "withdrawn"  # withdrawal, removal
    EXPRESSION_OF_CONCERN = "expression_of_concern"
    CORRECTED = "corrected"  # correction, corrigendum, erratum, addendum, clarification
    UNREADABLE = "unreadable"  # the registry names updates, none of which could be read


# A date as precise as the registry gave it: `2010`, `2010-02` or `2010-02-06`.
PartialDate = Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]


class UpdateNotice(Strict):
    """One notice that updates the paper: a retraction, a correction, …"""

    type: str = Field(description="the Crossmark update type, as Crossref names it")
    doi: str | None = Field(None, description="the notice's DOI")
    date: PartialDate | None = None
    source: str | None = Field(None, description="who asserted it: publisher, retraction-watch")
    via: Literal["updated-by", "update-to"] = Field(
        description="read from the paper's own answer (updated-by) or the notice's (update-to)"
    )


class Correction(Strict):
    """The paper's corrections and retractions, as the registry's answers record them; the
    status and the notice of the most serious one, every notice, and what could not be read."""

    status: CorrectionStatus | None = None
    notice_doi: str | None = None
    notice_date: PartialDate | None = None
    notices: list[UpdateNotice] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


Quartile = Literal["Q1", "Q2", "Q3", "Q4"]


class Paper(Strict):
    """The canonical, validated paper. Its JSON form is what the index stores."""

    id: str
    doi: str | None = None
    doi_text: str | None = Field(None, description="a DOI-like value that is not a valid DOI")
    title_en: str | None = None
    title_zh: str | None = None
    abstract_en: str | None = None
    abstract_zh: str | None = None
    zh_script: Literal["simplified", "traditional"] | None = None
    authors: list[Author] = Field(default_factory=list)
    journal: Journal = Field(default_factory=Journal)
    published: PublishedDate | None = None
    publication_type: str | None = None
    impact_factor: float | None = None
    jcr_quartile: Quartile | None = None
    jcr_subject: str | None = None
    open_access: bool | None = None
    pdf_url: str | None = None
    citation_count: int | None = Field(None, ge=0)
    source_platform: str | None = None
    source_url: str | None = None
    languages: list[Literal["en", "zh"]] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    # Identifiers and terms the source gives (PubMed, reference-manager exports): the PubMed and
    # PubMed Central ids, the arXiv id, the author keywords and MeSH headings, and the language
    # the source declares (its own code: `eng`, `chi`, `中文`).
    pmid: str | None = None
    pmcid: str | None = None
    arxiv_id: str | None = None
    keywords: list[str] = Field(default_factory=list)
    language: str | None = None
    license_url: str | None = None
    references_count: int | None = Field(None, ge=0)
    cited_by_count: int | None = Field(None, ge=0)
    conflicts: list[FieldConflict] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="what decoding had to repair")
    provenance: list[Provenance] = Field(default_factory=list)
    enrichment: Enrichment = Field(default_factory=Enrichment)
    # Where the DOI came from: the record itself, or matched by a bibliographic search.
    doi_source: Literal["source", "matched"] | None = None
    doi_match: DoiMatch | None = None
    correction: Correction | None = None
    # The id the record had before a search matched its DOI: carried through the run (never
    # part of the paper's JSON form), so the index stage moves the document it had to the DOI
    # (scholarflow/paper/doi_moves.py).
    former_id: str | None = Field(None, exclude=True)


class Outcome(StrEnum):
    INDEXED = "indexed"
    MERGED = "merged"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass
class LookupStats:
    """What DOI enrichment cost in one batch or run; batches add up with `add`."""

    lookups: int = 0  # DOIs asked for (cache or registry)
    cache_hits: int = 0
    requests: int = 0  # HTTP requests sent to registries, retries and redirects included
    retries: int = 0
    waited_seconds: float = 0.0  # sleeping before retries (Retry-After or back-off)
    throttled_seconds: float = 0.0  # waiting for the rate limiter, summed over workers
    breaker_open: bool = False  # the registry was unreachable and lookups stopped

    def add(self, other: LookupStats) -> None:
        self.lookups += other.lookups
        self.cache_hits += other.cache_hits
        self.requests += other.requests
        self.retries += other.retries
        self.waited_seconds += other.waited_seconds
        self.throttled_seconds += other.throttled_seconds
        self.breaker_open = self.breaker_open or other.breaker_open

    def as_dict(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "cache_hits": self.cache_hits,
            "requests": self.requests,
            "retries": self.retries,
            "waited_seconds": round(self.waited_seconds, 3),
            "throttled_seconds": round(self.throttled_seconds, 3),
            "breaker_open": self.breaker_open,
        }


@dataclass
class RunSummary:
    """Where every record of a run ended; `check()` enforces that none went missing."""

    run_id: str
    alias: str
    index: str | None = None
    records_read: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    enrichment: Counter[str] = field(default_factory=Counter)
    # Records without a DOI by what searching for one gave (`DoiMatch.status`).
    doi_matching: Counter[str] = field(default_factory=Counter)
    doi_lookup: LookupStats = field(default_factory=LookupStats)
    seconds: Counter[str] = field(default_factory=Counter)
    # Files read this run, and files skipped because the source manifest says they are ingested.
    sources_read: int = 0
    sources_skipped: int = 0
    # Rejections written to the dead-letter store: must equal the `rejected` outcome.
    dead_lettered: int = 0
    # What the saved searches found among the papers the run wrote (tasks/percolate.py).
    watches: dict[str, Any] = field(default_factory=dict)
    # Documents without a DOI folded into the document of the DOI a search found for their
    # paper, and deleted (scholarflow/paper/doi_moves.py); their records are among the merged.
    moved_to_doi: int = 0
    # Ids a source withdrew (PubMed `DeleteCitation`, OAI-PMH deleted headers) and how each
    # ended: `removed` (the paper deleted), `held` (another source still gives it), `absent`
    # (never indexed). Not records, so not in `records_read`; `check()` accounts for each.
    deletions_read: int = 0
    deletions: Counter[str] = field(default_factory=Counter)

    def add_rejections(self, rejections: list[Rejection]) -> None:
        self.outcomes[Outcome.REJECTED] += len(rejections)
        self.rejections.update((r.stage.value, r.reason) for r in rejections)

    def accounted(self) -> int:
        return sum(self.outcomes[o] for o in Outcome)

    def check(self) -> None:
        """read == indexed + merged + unchanged + rejected, every rejection is stored, and
        every deletion read was removed, held or absent."""
        if self.accounted() != self.records_read:
            raise AccountingError(
                f"run {self.run_id}: read {self.records_read} records but accounted for "
                f"{self.accounted()} ({dict(self.outcomes)})"
            )
        if self.dead_lettered != self.outcomes[Outcome.REJECTED]:
            raise AccountingError(
                f"run {self.run_id}: rejected {self.outcomes[Outcome.REJECTED]} records but "
                f"stored {self.dead_lettered} in the dead-letter store"
            )
        if sum(self.deletions.values()) != self.deletions_read:
            raise AccountingError(
                f"run {self.run_id}: read {self.deletions_read} deletions but accounted for "
                f"{sum(self.deletions.values())} ({dict(self.deletions)})"
            )

    def rejected_by_stage(self) -> dict[str, dict[str, Any]]:
        """{stage: {"count": n, "reasons": {reason: n}}}, stages in pipeline order."""
        grouped: dict[str, dict[str, Any]] = {}
        for stage in Stage:
            reasons = {
                reason: count
                for (name, reason), count in self.rejections.most_common()
                if name == stage.value
            }
            if reasons:
                grouped[stage.value] = {"count": sum(reasons.values()), "reasons": reasons}
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "records_read": self.records_read,
            "indexed": self.outcomes[Outcome.INDEXED],
            "duplicates_merged": self.outcomes[Outcome.MERGED],
            "unchanged": self.outcomes[Outcome.UNCHANGED],
            "rejected": self.outcomes[Outcome.REJECTED],
            "rejections": [
                {"stage": stage, "reason": reason, "count": count}
                for (stage, reason), count in self.rejections.most_common()
            ],
            "rejected_by_stage": self.rejected_by_stage(),
            "dead_lettered": self.dead_lettered,
            "sources_read": self.sources_read,
            "sources_skipped": self.sources_skipped,
            "enrichment": dict(self.enrichment.most_common()),
            "doi_matching": dict(self.doi_matching.most_common()),
            "moved_to_doi": self.moved_to_doi,
            "deletions_read": self.deletions_read,
            "deletions": {key: self.deletions[key] for key in ("removed", "held", "absent")},
            "doi_lookup": self.doi_lookup.as_dict(),
            "seconds": {stage: round(s, 3) for stage, s in self.seconds.items()},
            "watches": self.watches,
            "index": self.index,
            "alias": self.alias,
        }


class AccountingError(ScholarflowError):
    """A run lost track of records: the one error that must never be swallowed."""

    prefix = "accounting check failed: "
    exit_code = 3  # apart from the other failures: the run itself cannot be trusted
