"""The deployments an operator runs: `ingest` on a schedule over the inbox, `embed` on its own
schedule after it (vectors for the new papers), `reenrich` nightly, `reindex` by hand from the
UI (its parameters render as a form), and one `harvest-NAME` per configured harvest source, on
the source's own schedule (`scholarflow sources add … --schedule CRON`).

Each allows one run at a time (`concurrency_limit=1`): a run that comes due while the previous
one is still going waits its turn instead of racing it for the same documents. Entrypoints are
module paths, so a served run, a process worker and a container all load the installed flows
whatever their working directory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.workers.process import ProcessWorker

from flows.embed import embed
from flows.harvest import harvest
from flows.ingest import ingest
from flows.reenrich import reenrich
from flows.reindex import reindex
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource

TAGS = ["scholarflow"]


def build_deployments(
    settings: Settings, sources: Sequence[HarvestSource] = ()
) -> list[RunnerDeployment]:
    """The four deployments, with schedules from the settings, and one per harvest source.

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
        *(harvest_deployment(source, settings, common) for source in sources),
    ]


def harvest_deployment(
    source: HarvestSource, settings: Settings, common: dict[str, object]
) -> RunnerDeployment:
    """A source's harvest, on its schedule (none: run by hand from the UI), one run at a time:
    two runs of one source would ask for the same window."""
    schedules = (
        [Cron(source.schedule, timezone=settings.schedule_timezone)] if source.schedule else []
    )
    return harvest.to_deployment(
        name=f"harvest-{source.name}",
        description=f"Harvest {source.kind} {source.origin}: what changed since the last run.",
        schedules=schedules,
        parameters={"source": source.name},
        **common,  # type: ignore[arg-type]
    )


def configured_sources(settings: Settings) -> list[HarvestSource]:
    """The harvest sources stored in the engine; none (said in one line) when it cannot be
    read, so the other deployments are served anyway. An embedded engine is not started for
    this: `serve` has started it already."""
    from scholarflow.engine.client import connect
    from scholarflow.stores.harvest_sources import HarvestSources

    try:
        return HarvestSources(connect(settings, start=False)).all()
    except Exception as exc:
        logging.getLogger("scholarflow.engine").warning(
            "harvest sources not read (%s): no harvest deployments", type(exc).__name__
        )
        return []


def deploy_to_pool(settings: Settings, pool: str) -> list[str]:
    """Register the deployments on a process work pool (created when missing), for
    `prefect worker start --pool POOL` workers on any number of machines to run."""
    asyncio.run(_ensure_process_pool(pool))
    deployments = build_deployments(settings, configured_sources(settings))
    return [str(d.apply(work_pool_name=pool)) for d in deployments]


async def _ensure_process_pool(pool: str) -> None:
    async with get_client() as client:
        try:
            await client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            await client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template)
            )
