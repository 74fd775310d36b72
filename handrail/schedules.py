"""Temporal Schedules that feed lanes from their systems of record."""

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
)

from contracts import ScanInput
from handrail.settings import Settings
from workflows.catalog import LANE_WORKFLOWS
from workflows.scan import WindowScanWorkflow

logger = logging.getLogger(__name__)


def schedule_id(lane: str) -> str:
    return f"{lane}-window-scan"


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create each lane's scan schedule unless a schedule with its id exists."""
    for lane in LANE_WORKFLOWS.values():
        spec = lane.spec
        overrides = settings.lanes.get(spec.name)
        cron = (overrides and overrides.scan_cron) or spec.scan_cron
        if spec.scan is None or cron is None:
            continue
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                WindowScanWorkflow.run,
                ScanInput(lane=spec.name, window_days=settings.renewal_window_days),
                id=f"{spec.name}-scan",
                task_queue=settings.task_queue,
            ),
            spec=ScheduleSpec(cron_expressions=[cron]),
        )
        try:
            await client.create_schedule(schedule_id(spec.name), schedule)
        except ScheduleAlreadyRunningError:
            continue
        logger.info("created schedule %s (%s UTC)", schedule_id(spec.name), cron)
