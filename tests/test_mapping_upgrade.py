"""An index built before fields were added to the papers' mappings takes them on the next
ingest, instead of refusing every document that carries them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from scholarflow.engine.client import connect
from scholarflow.paper.models import Outcome
from scholarflow.settings import Settings
from scholarflow.stores.indices import add_new_fields
from scholarflow.stores.templates import MAPPINGS_FILE, load_mapping_file

NEW_FIELDS = ["doi_match", "doi_source", "match_key", "former_ids"]


def test_an_ingest_adds_the_fields_an_older_index_lacks(
    ingest: Any, settings: Settings, tmp_path: Path
):
    client = connect(settings)
    template = load_mapping_file(MAPPINGS_FILE)["template"]["mappings"]
    older = {k: v for k, v in template["properties"].items() if k not in NEW_FIELDS}
    from scholarflow.stores.templates import analysis_settings

    client.indices.create(
        index="papers-000001",
        mappings={**template, "properties": older},
        settings=analysis_settings("stock"),
        aliases={settings.alias: {}},
    )
    record = {"title": "Thermal ecology of lizards", "authors": "Ping Liu", "doi": "10.5555/x"}
    (tmp_path / "one.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    summary = ingest(tmp_path / "one.jsonl")
    assert summary.outcomes[Outcome.INDEXED] == 1 and summary.outcomes[Outcome.REJECTED] == 0
    mapping = client.indices.get_mapping(index="papers-000001")["papers-000001"]["mappings"]
    assert set(NEW_FIELDS) <= set(mapping["properties"])
    current = client.indices.get_mapping(index="papers-000001").body
    assert add_new_fields(client, "papers-000001", current, template["properties"]) == []
