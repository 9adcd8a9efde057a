"""The embedding flow in real flow runs (a real Prefect test server): after an ingest that asks
for it, from the command line, and on two Dask worker processes, which must make the vectors
one process makes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from elasticsearch.helpers import scan
from typer.testing import CliRunner

from cli import app
from flows.embed import embed
from flows.ingest import ingest
from scholarflow.embedding.model import load_embedder
from scholarflow.embedding.passages import passage_text
from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from scholarflow.stores.vector_mapping import VECTOR_FIELD
from tests.conftest import SEED_RECORDS

pytestmark = pytest.mark.usefixtures("prefect_harness")
WANFANG = SEED_RECORDS / "papers_wanfang.jsonl"  # 7 records, 7 papers


def stored(settings: Settings) -> dict[str, dict]:
    client = connect(settings)
    client.indices.refresh(index="papers")
    return {hit["_id"]: hit["_source"] for hit in scan(client, index="papers")}


def test_an_ingest_can_make_its_papers_vectors_once_they_are_searchable(
    settings: Settings, flow_env
) -> None:
    flow_env()
    summary = ingest(paths=[str(WANFANG)], then_embed=True)
    assert summary["indexed"] == 7
    vectors = summary["embedding"]
    assert (vectors["selected"], vectors["updated"], vectors["embedded"]) == (7, 7, 7)
    assert all(len(doc[VECTOR_FIELD]) == 384 for doc in stored(settings).values())
    again = ingest(paths=[str(WANFANG)], full=True, then_embed=True)
    assert again["unchanged"] == 7 and again["embedding"]["selected"] == 0


def test_the_embed_and_status_commands(settings: Settings, flow_env) -> None:
    flow_env()
    assert ingest(paths=[str(WANFANG)])["indexed"] == 7
    runner = CliRunner()
    before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert before["vectors"] == {"embedded": 0, "no_text": 0, "waiting": 7}
    result = runner.invoke(app, ["embed", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["updated"], summary["embedded"], summary["vector_mapping"]) == (7, 7, "knn")
    assert summary["embedded_per_cpu_second"] > 0
    after = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert after["vectors"] == {"embedded": 7, "no_text": 0, "waiting": 0}
    assert after["vector_mapping"].startswith("knn_vector")
    shown = runner.invoke(app, ["embed"])
    assert "0 papers selected" in shown.stdout


@pytest.mark.slow
def test_two_dask_workers_make_the_vectors_one_process_makes(settings: Settings, flow_env):
    from distributed import Client, LocalCluster

    flow_env()
    ingest(paths=[str(WANFANG)])
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask,
    ):
        flow_env(task_runner="dask", dask_address=cluster.scheduler_address, embed_threads=1)
        summary = embed(batch_size=2)
        executed = dask.run(lambda dask_worker: dask_worker.state.executed_count)
    assert (summary["updated"], summary["embedded"]) == (7, 7)
    assert sum(executed.values()) == 4  # 7 papers in batches of 2: one task per batch
    assert all(count > 0 for count in executed.values()), executed  # both workers took part
    docs = stored(settings)
    here = load_embedder(settings.embed_max_tokens).passages(
        [passage_text(d) for d in docs.values()]
    )
    for doc, mine in zip(docs.values(), here, strict=True):
        assert np.allclose(doc[VECTOR_FIELD], mine.vector, atol=1e-5)
