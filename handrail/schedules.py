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
from workflows.scan import WindowScanWorkflow

logger = logging.getLogger(__name__)

RENEWAL_SCAN_SCHEDULE_ID = "renewal_risk-window-scan"


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the daily renewal-window scan unless a schedule with its id exists."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            WindowScanWorkflow.run,
            ScanInput(lane="renewal_risk", window_days=settings.renewal_window_days),
            id="renewal_risk-scan",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.renewal_scan_cron]),
    )
    try:
        await client.create_schedule(RENEWAL_SCAN_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return
    logger.info(
        "created schedule %s (%s UTC)", RENEWAL_SCAN_SCHEDULE_ID, settings.renewal_scan_cron
    )
