"""Re-index step by step (plain functions): plan, build, verify, switch, prune, roll back."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.client import connect
from scholarflow.search.service import search_papers
from scholarflow.settings import Settings
from scholarflow.stores.indices import (
    IndexStateError,
    ReindexError,
    VerificationError,
    create_for_load,
    generations,
    live_index,
    prune,
    prune_plan,
    restore_serving_settings,
    roll_back,
)
from scholarflow.stores.ingest_origins import SourceRegistry
from tasks.fetch import SourceError
from tasks.reindex import (
    ReindexPlan,
    copy_documents,
    create_target,
    plan_reindex,
    switch,
    verify,
)
from tests.conftest import SEED_RECORDS

LUPUS = "10.1080/25785826.2025.2563427"


def state(client: Elasticsearch) -> dict:
    """Everything a re-index could change: indices, aliases, documents, templates."""
    indices = client.indices.get(index="*")
    return {
        "indices": {n: (i.get("aliases"), i["settings"]["index"]) for n, i in indices.items()},
        "counts": {n: client.count(index=n)["count"] for n in indices},
        "templates": client.cluster.get_component_template()["component_templates"],
    }


def build(client: Elasticsearch, settings: Settings) -> ReindexPlan:
    """A copy-mode re-index up to (not including) verification."""
    plan = plan_reindex(client, settings, "copy", keep=2)
    create_target(client, plan)
    copy_documents(client, plan)
    restore_serving_settings(client, plan.target)
    return plan


def test_plan_changes_nothing_and_says_what_would_happen(seeded_settings: Settings) -> None:
    client = connect(seeded_settings)
    before = state(client)
    copy = plan_reindex(client, seeded_settings, "copy", keep=2)
    replay = plan_reindex(client, seeded_settings, "replay", keep=2)
    assert state(client) == before
    assert (copy.live, copy.target, copy.live_documents) == ("papers-000001", "papers-000002", 32)
    assert copy.profile == copy.live_profile == "icu"  # the embedded engine has ICU
    assert copy.sources == [] and copy.would_delete == []
    assert replay.sources == [str(SEED_RECORDS)]
    assert len(replay.files) == 21 and all(Path(f).is_absolute() for f in replay.files)


def test_copy_build_verify_switch_prune_and_roll_back(seeded_settings: Settings) -> None:
    client = connect(seeded_settings)
    plan = build(client, seeded_settings)
    report = verify(client, plan, loaded=32, allow_removals=False)
    assert report["documents"] == 32 and report["added"] == report["removed"] == 0
    assert len(report["judged_queries_checked"]) >= 10
    assert search_papers(seeded_settings, "白细胞减少")["hits"][0]["index"] == "papers-000001"
    switch(client, plan)
    assert live_index(client, "papers") == "papers-000002"
    hit = search_papers(seeded_settings, "白细胞减少")["hits"][0]
    assert (hit["id"], hit["index"]) == (LUPUS, "papers-000002")
    assert prune(client, "papers", keep=1) == {"kept": ["papers-000001"], "deleted": []}

    assert roll_back(client, "papers") == {
        "alias": "papers",
        "from": "papers-000002",
        "to": "papers-000001",
    }
    assert search_papers(seeded_settings, "白细胞减少")["hits"][0]["index"] == "papers-000001"
    assert generations(client, "papers") == ["papers-000001", "papers-000002"]  # kept to retry
    with pytest.raises(IndexStateError, match="nothing to roll back to"):
        roll_back(client, "papers")
    # The next build skips the generation that is still there.
    assert plan_reindex(client, seeded_settings, "copy", keep=2).target == "papers-000003"


def test_rollback_without_an_index(settings: Settings) -> None:
    with pytest.raises(IndexStateError, match="does not exist"):
        roll_back(connect(settings), "papers")


def test_rollback_without_a_previous_index(seeded_settings: Settings) -> None:
    with pytest.raises(IndexStateError, match="nothing to roll back to"):
        roll_back(connect(seeded_settings), "papers")


def test_verify_refuses_when_the_live_index_changed(seeded_settings: Settings) -> None:
    client = connect(seeded_settings)
    plan = build(client, seeded_settings)
    client.update(index=plan.live, id=LUPUS, doc={"indexed_at": "2030-01-01T00:00:00+00:00"})
    with pytest.raises(VerificationError, match="changed while"):
        verify(client, plan, loaded=32, allow_removals=False)


def test_verify_refuses_lost_documents_unless_allowed(seeded_settings: Settings) -> None:
    client = connect(seeded_settings)
    plan = build(client, seeded_settings)
    with pytest.raises(VerificationError, match="load wrote 33"):
        verify(client, plan, loaded=33, allow_removals=False)
    client.delete(index=plan.target, id="10.5281/zenodo.48440", refresh=True)
    with pytest.raises(VerificationError, match=r"lacks 1 .*zenodo"):
        verify(client, plan, loaded=31, allow_removals=False)
    report = verify(client, plan, loaded=31, allow_removals=True)
    assert (report["removed"], report["removed_sample"]) == (1, ["10.5281/zenodo.48440"])


def test_verify_refuses_an_analysis_change_that_breaks_chinese_search(
    seeded_settings: Settings,
) -> None:
    client = connect(seeded_settings)
    plan = plan_reindex(client, seeded_settings, "copy", keep=2)
    create_target(client, plan)
    # A careless change: Chinese text indexed as whole words, like English.
    client.indices.delete(index=plan.target)
    broken = client.cluster.get_component_template(name="scholarflow-papers")
    template = broken["component_templates"][0]["component_template"]["template"]
    template["settings"]["index"]["analysis"]["analyzer"]["chinese_text"] = {
        "type": "custom",
        "tokenizer": "whitespace",
        "filter": ["lowercase"],
    }
    client.cluster.put_component_template(name="scholarflow-papers", template=template)
    create_for_load(client, plan.target)
    copy_documents(client, plan)
    restore_serving_settings(client, plan.target)
    with pytest.raises(VerificationError, match="no longer finds the papers"):
        verify(client, plan, loaded=32, allow_removals=False)


def test_switch_refuses_when_the_alias_moved_meanwhile(seeded_settings: Settings) -> None:
    client = connect(seeded_settings)
    plan = build(client, seeded_settings)
    other = "papers-000009"
    create_for_load(client, other)
    restore_serving_settings(client, other)
    client.indices.update_aliases(
        actions=[
            {"remove": {"index": plan.live, "alias": "papers"}},
            {"add": {"index": other, "alias": "papers"}},
        ]
    )
    with pytest.raises(ReindexError, match="moved to papers-000009"):
        switch(client, plan)
    assert live_index(client, "papers") == other


def test_prune_keeps_the_newest_and_drops_unfinished_builds() -> None:
    names = [f"p-{n:06d}" for n in range(1, 7)]
    plan = prune_plan(names, live="p-000005", loading={"p-000006", "p-000002"}, keep=2)
    assert plan == {
        "kept": ["p-000003", "p-000004"],
        "deleted": ["p-000002", "p-000006", "p-000001"],
    }
    assert prune_plan(names, "p-000006", set(), keep=0)["kept"] == []


def test_prune_on_the_engine(settings: Settings) -> None:
    client = connect(settings)
    for n in range(1, 5):
        create_for_load(client, f"papers-{n:06d}")
        if n != 3:  # papers-000003 is a build that never finished
            restore_serving_settings(client, f"papers-{n:06d}")
    client.indices.update_aliases(actions=[{"add": {"index": "papers-000004", "alias": "papers"}}])
    assert prune(client, "papers", keep=1) == {
        "kept": ["papers-000002"],
        "deleted": ["papers-000003", "papers-000001"],
    }
    assert generations(client, "papers") == ["papers-000002", "papers-000004"]


def test_replay_needs_recorded_sources_that_still_exist(
    seeded_settings: Settings, tmp_path: Path
) -> None:
    client = connect(seeded_settings)
    client.delete_by_query(index="scholarflow-sources", query={"match_all": {}}, refresh=True)
    with pytest.raises(IndexStateError, match="no sources are recorded"):
        plan_reindex(client, seeded_settings, "replay", keep=2)
    gone = tmp_path / "gone.jsonl"
    SourceRegistry(client).record("papers", [str(gone)], "run-1")
    with pytest.raises(SourceError, match=r"gone\.jsonl: no such file"):
        plan_reindex(client, seeded_settings, "replay", keep=2)
    assert generations(client, "papers") == ["papers-000001"]


def test_sources_registry_keeps_absolute_sources_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry = SourceRegistry(connect(settings))
    assert registry.sources("papers") == []
    monkeypatch.chdir(tmp_path)
    registry.record("papers", ["data/a.jsonl", "https://example.org/b.jsonl.gz"], "run-1")
    registry.record("papers", [str(tmp_path / "data" / "a.jsonl")], "run-2")
    registry.record("other", ["c.jsonl"], "run-3")
    assert registry.sources("papers") == [
        str(tmp_path / "data" / "a.jsonl"),
        "https://example.org/b.jsonl.gz",
    ]


def test_flow_parameters_render_as_a_form() -> None:
    from flows.reindex import reindex

    schema = reindex.parameters.model_dump()["definitions"]["ReindexParameters"]["properties"]
    assert schema["mode"]["enum"] == ["copy", "replay"]
    assert schema["dry_run"]["type"] == "boolean"
    assert (schema["keep"]["minimum"], schema["keep"]["default"]) == (0, 2)
