"""The scheduled scan that turns records entering a lane's window into events."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.scan import ScanActivities
    from contracts import ScanInput, ScanResult


@workflow.defn(name="WindowScan")
class WindowScanWorkflow:
    @workflow.run
    async def run(self, input: ScanInput) -> ScanResult:
        if input.as_of is None:
            # The schedule fires without a date: the scan covers the day it fires.
            input = input.model_copy(update={"as_of": workflow.now().date()})
        return await workflow.execute_activity_method(
            ScanActivities.scan_window,
            input,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
