"""The seed records in an engine the way `make demo` puts them there (DOI cache imported,
enrichment from the cache only), through the plain stage functions: no Prefect needed."""

from __future__ import annotations

import orjson

from scholarflow.engine.client import connect
from scholarflow.registry import DoiCache, Resolver
from scholarflow.settings import DoiLookup, Settings
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.ingest_origins import SourceRegistry
from tasks.decode import decode_records
from tasks.enrich import enrich_papers
from tasks.fetch import read_records
from tasks.index import index_papers
from tests.conftest import SEED_CACHE, SEED_RECORDS


def seed_index(settings: Settings) -> str:
    """Index every seed record into the live index (recording the seeds as its source);
    returns the index name."""
    client = connect(settings)
    cache = DoiCache(client, settings)
    entries = (orjson.loads(line) for line in SEED_CACHE.read_bytes().splitlines() if line)
    cache.import_entries(entries)
    index = ensure_live_index(client, settings.alias, settings.analysis_profile)
    SourceRegistry(client).record(settings.alias, [str(SEED_RECORDS)], "seed")
    papers, _ = decode_records(read_records([SEED_RECORDS]))
    cache_only = settings.model_copy(update={"doi_lookup": DoiLookup.CACHE_ONLY})
    enriched = enrich_papers(papers, Resolver(cache_only, cache, None))
    index_papers(client, index, enriched, "seed")
    client.indices.refresh(index=index)
    return index
