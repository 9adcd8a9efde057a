"""Cross-lingual search quality: judged queries asked in one language of papers that have only
the other.

The seeds' papers carry aligned Chinese and English titles and abstracts, which lexical search
matches in either language. To measure what words cannot do, each group is run against a copy
of the live index that keeps one language of every paper (`<alias>-xling-en`: English text
only, for the Chinese queries of `zh-to-en`; `<alias>-xling-zh`: Chinese only, for `en-to-zh`),
built from the same index template, given its vectors from the vector cache (a text embedded
once is never embedded again), searched as the live index is, and deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from elasticsearch import Elasticsearch, helpers

from scholarflow.embedding.cache import VectorCache
from scholarflow.embedding.model import Embedder
from scholarflow.embedding.vectors import vectors_for
from scholarflow.package_data import data_dir
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.relevance import Judged, Scored, evaluate, load_judgments
from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.vector_mapping import INFO_FIELD, VECTOR_FIELD

CROSSLINGUAL = data_dir("relevance") / "crosslingual.json"
# Each group (relevance.CROSSLINGUAL_GROUPS), and the one language its copy of the index keeps.
KEPT_LANGUAGE = {"zh-to-en": "en", "en-to-zh": "zh"}
_OTHER = {"en": "zh", "zh": "en"}
_JOURNAL_NAME = {"en": "name", "zh": "name_zh"}
COPY_BATCH = 200  # papers copied (and given vectors) at a time


def one_language(doc: dict[str, Any], keep: str) -> dict[str, Any] | None:
    """The paper with the other language's title, abstract and journal name removed (None when
    nothing is left in `keep`); its derived title fields rebuilt from what is kept."""
    other = _OTHER[keep]
    if not (doc.get(f"title_{keep}") or doc.get(f"abstract_{keep}")):
        return None
    kept = {k: v for k, v in doc.items() if k not in (VECTOR_FIELD, INFO_FIELD)}
    for name in (f"title_{other}", f"abstract_{other}", "zh_script"):
        kept.pop(name, None)
    if isinstance(kept.get("journal"), dict):
        kept["journal"] = {k: v for k, v in kept["journal"].items() if k != _JOURNAL_NAME[other]}
    titles = [kept[f"title_{keep}"]] if kept.get(f"title_{keep}") else []
    kept["title"] = titles
    kept["suggest"] = {"input": titles}
    kept["languages"] = [keep]
    return kept


@contextmanager
def one_language_copy(
    client: Elasticsearch, alias: str, keep: str, embedder: Embedder | None
) -> Iterator[str]:
    """A copy of the live index with `keep`'s text only, with vectors (unless `embedder` is
    None: how lexical search alone fares); deleted afterwards."""
    name = f"{alias}-xling-{keep}"
    client.indices.delete(index=name, ignore_unavailable=True)
    client.indices.create(index=name)  # the papers' index template applies to <alias>-*
    try:
        cache = VectorCache(client)
        hits = helpers.scan(client, index=alias, size=COPY_BATCH)
        while page := list(islice(hits, COPY_BATCH)):
            docs = (one_language(hit["_source"], keep) for hit in page)
            kept = {doc["id"]: doc for doc in docs if doc is not None}
            vectors = vectors_for(kept, embedder, cache).docs if embedder else {}
            actions = [
                {"_index": name, "_id": doc_id, "_source": doc | vectors.get(doc_id, {})}
                for doc_id, doc in kept.items()
            ]
            send(client, expanded(actions)).raise_refused(name)
        client.indices.refresh(index=name)
        yield name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)


def evaluate_crosslingual(
    client: Elasticsearch,
    alias: str,
    embedder: Embedder | None,
    hybrid: Hybrid | None,
    judgments: list[Judged] | None = None,
) -> list[Scored]:
    """Each cross-lingual group's queries against its one-language copy of the live index,
    searched with `hybrid` (None: by words alone)."""
    judged = judgments if judgments is not None else load_judgments(CROSSLINGUAL)
    scored: list[Scored] = []
    for group, keep in KEPT_LANGUAGE.items():
        asked = [j for j in judged if j.group == group]
        if asked:
            with one_language_copy(client, alias, keep, embedder) as index:
                scored += evaluate(client, index, asked, hybrid)
    return scored
