"""kibana/scholarflow.ndjson: Kibana saved objects that import as a set (every reference resolves
inside the file) and query fields that exist, aggregatable, in the index mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scholarflow.settings import Settings
from scholarflow.stores.templates import load_mapping_file
from tests.conftest import REPO

NDJSON = REPO / "kibana" / "scholarflow.ndjson"
AGGREGATABLE = {"keyword", "integer", "long", "float", "double", "date", "boolean"}
RECORDS = "___records___"  # Lens's "count of documents" pseudo-field


def _mapping_fields(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every field path of the mapping with its type, multi-fields included (journal.name.raw)."""
    fields: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            fields |= _mapping_fields(spec["properties"], f"{path}.")
            continue
        fields[path] = spec.get("type", "object")
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{path}.{sub}"] = sub_spec["type"]
    return fields


MAPPING = load_mapping_file("papers.mappings.json")["template"]["mappings"]
FIELDS = _mapping_fields(MAPPING["properties"])


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    lines = [line for line in NDJSON.read_text(encoding="utf-8").splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    keyed = {(o["type"], o["id"]): o for o in parsed}
    assert len(keyed) == len(parsed), "duplicate saved object ids"
    return keyed


def _of_type(objects: dict, kind: str) -> list[dict[str, Any]]:
    return [o for (t, _), o in objects.items() if t == kind]


def test_every_reference_resolves_inside_the_file(objects):
    for obj in objects.values():
        assert {"id", "type", "attributes", "references"} <= set(obj)
        assert obj["typeMigrationVersion"] and obj["coreMigrationVersion"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in objects, f"{obj['id']}: dangling {ref}"


def test_the_data_view_is_on_the_alias(objects):
    (view,) = _of_type(objects, "index-pattern")
    assert view["attributes"]["title"] == Settings(_env_file=None).alias


def test_the_saved_search_shows_mapped_fields_from_the_data_view(objects):
    (search,) = _of_type(objects, "search")
    attributes = search["attributes"]
    assert set(attributes["columns"]) <= set(FIELDS)
    assert all(FIELDS[field] in AGGREGATABLE for field, _ in attributes["sort"])
    source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    (ref,) = [r for r in search["references"] if r["name"] == source["indexRefName"]]
    assert ref["type"] == "index-pattern"


def _lens_fields(lens: dict[str, Any]) -> set[str]:
    """The fields a Lens chart aggregates, after checking its layers against its references."""
    state = lens["attributes"]["state"]
    ref_names = {r["name"] for r in lens["references"] if r["type"] == "index-pattern"}
    fields = set()
    for layer_id, layer in state["datasourceStates"]["formBased"]["layers"].items():
        assert f"indexpattern-datasource-layer-{layer_id}" in ref_names
        assert set(layer["columnOrder"]) == set(layer["columns"])
        for column in layer["columns"].values():
            if column["sourceField"] != RECORDS:
                fields.add(column["sourceField"])
        accessors = set()
        for vis_layer in state["visualization"]["layers"]:
            if vis_layer["layerId"] == layer_id:
                for key in ("xAccessor", "accessors", "primaryGroups", "metrics"):
                    value = vis_layer.get(key, [])
                    accessors |= {value} if isinstance(value, str) else set(value)
        assert accessors == set(layer["columns"]), f"{lens['id']}: accessors and columns differ"
    return fields


def test_lens_charts_aggregate_fields_that_exist_and_are_aggregatable(objects):
    charts = _of_type(objects, "lens")
    assert len(charts) == 5
    for lens in charts:
        for field in _lens_fields(lens):
            assert field in FIELDS, f"{lens['id']}: {field} is not in the mapping"
            assert FIELDS[field] in AGGREGATABLE, f"{lens['id']}: {field} is {FIELDS[field]}"


def test_the_dashboard_shows_the_five_charts_and_the_search(objects):
    (dashboard,) = _of_type(objects, "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: (r["type"], r["id"]) for r in dashboard["references"]}
    shown = []
    for panel in panels:
        kind, obj_id = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert kind == panel["type"]
        shown.append(objects[(kind, obj_id)])
    fields = set().union(*(_lens_fields(o) for o in shown if o["type"] == "lens"))
    assert fields == {"year", "jcr_quartile", "journal.name.raw", "languages", "correction.status"}
    assert [o["type"] for o in shown].count("search") == 1
    grid = [(p["gridData"]["x"], p["gridData"]["y"]) for p in panels]
    assert len(set(grid)) == len(grid), "panels overlap"
