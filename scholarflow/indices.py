"""Versioned paper indices behind an alias, built from the templates in `index_mappings/`.

Searches always go to the alias (`papers`); data lives in `papers-000001`, `papers-000002`, …
so a re-index can build the next index while the current one keeps serving.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from scholarflow.settings import PROJECT_ROOT

MAPPINGS_DIR = PROJECT_ROOT / "index_mappings"
COMPONENTS = {
    "scholarflow-settings": "settings.json",
    "scholarflow-analysis": "analysis.stock.json",
    "scholarflow-papers": "papers.mappings.json",
}
INDEX_TEMPLATE = "papers.index-template.json"


@cache
def load_mapping_file(name: str) -> dict[str, Any]:
    return json.loads((MAPPINGS_DIR / name).read_text(encoding="utf-8"))


def index_template(alias: str) -> dict[str, Any]:
    """The index template for `<alias>-*` (the file is written for the default alias)."""
    body = dict(load_mapping_file(INDEX_TEMPLATE))
    body["index_patterns"] = [f"{alias}-*"]
    return body


def install_templates(client: Elasticsearch, alias: str) -> None:
    """Put the component templates and the index template; idempotent."""
    for name, filename in COMPONENTS.items():
        client.cluster.put_component_template(name=name, **load_mapping_file(filename))
    client.indices.put_index_template(name=f"scholarflow-{alias}", **index_template(alias))


def index_name(alias: str, generation: int) -> str:
    return f"{alias}-{generation:06d}"


def generation_of(alias: str, index: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(alias)}-(\d{{6}})", index)
    return int(match.group(1)) if match else None


def live_index(client: Elasticsearch, alias: str) -> str | None:
    """The index the alias points at, or None when the alias does not exist yet."""
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    names = sorted(found.body)
    return names[-1] if names else None


def ensure_live_index(client: Elasticsearch, alias: str) -> str:
    """The live index, creating the first generation (and the templates) on first use."""
    current = live_index(client, alias)
    if current:
        return current
    install_templates(client, alias)
    first = index_name(alias, 1)
    if not client.indices.exists(index=first):
        client.indices.create(index=first, aliases={alias: {}})
    else:
        client.indices.update_aliases(actions=[{"add": {"index": first, "alias": alias}}])
    return first
