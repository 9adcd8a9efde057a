"""The deployments an operator runs: `ingest` on a schedule over the inbox, `embed` on its own
schedule after it (vectors for the new papers), `reenrich` nightly, `reindex` by hand from the
UI (its parameters render as a form).

Each allows one run at a time (`concurrency_limit=1`): a run that comes due while the previous
one is still going waits its turn instead of racing it for the same documents. Entrypoints are
module paths, so a served run, a process worker and a container all load the installed flows
whatever their working directory.
"""

from __future__ import annotations

import asyncio

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.workers.process import ProcessWorker

from flows.embed import embed
from flows.ingest import ingest
from flows.reenrich import reenrich
from flows.reindex import reindex
from scholarflow.settings import Settings

TAGS = ["scholarflow"]


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """The four deployments, with schedules from the settings.

    Without an inbox the ingest schedule is created inactive: the deployment can still be run by
    hand with paths, and turning the schedule on in the UI is one click once the inbox is set.
    """
    common = {
        "concurrency_limit": 1,
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "tags": TAGS,
    }
    timezone = settings.schedule_timezone
    return [
        ingest.to_deployment(
            name="ingest",
            description="Ingest the inbox: every source under SCHOLARFLOW_INBOX.",
            schedules=[Cron(settings.ingest_cron, timezone=timezone, active=bool(settings.inbox))],
            parameters={"paths": settings.inbox},
            **common,
        ),
        embed.to_deployment(
            name="embed",
            description="Vectors for the papers that have none (cross-lingual search).",
            schedules=[Cron(settings.embed_cron, timezone=timezone)],
            **common,
        ),
        reenrich.to_deployment(
            name="reenrich",
            description="Look up again the DOIs whose enrichment was deferred, failed or is old.",
            schedules=[Cron(settings.reenrich_cron, timezone=timezone)],
            **common,
        ),
        reindex.to_deployment(
            name="reindex",
            description="Build the next index, verify it, then move the alias (started by hand).",
            **common,
        ),
    ]


def deploy_to_pool(settings: Settings, pool: str) -> list[str]:
    """Register the deployments on a process work pool (created when missing), for
    `prefect worker start --pool POOL` workers on any number of machines to run."""
    asyncio.run(_ensure_process_pool(pool))
    return [str(d.apply(work_pool_name=pool)) for d in build_deployments(settings)]


async def _ensure_process_pool(pool: str) -> None:
    async with get_client() as client:
        try:
            await client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            await client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template)
            )
