"""Renewal-risk triage: flag renewals at risk, note the evidence and give the owner a task."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import LaneInput, LaneResult, RolloutMode
    from workflows.lane import LaneSpec, LaneWorkflow

RENEWAL_WINDOW_STARTED = "crm.opportunity.renewal_window_started"

SPEC = LaneSpec(
    name="renewal_risk",
    event_types=(RENEWAL_WINDOW_STARTED,),
    # Low-risk writes (a note, a task, an approved risk value) go straight
    # through; anything policy flags waits for a reviewer.
    default_mode=RolloutMode.AUTONOMOUS,
    review_sla=timedelta(hours=72),
    escalate_after=timedelta(hours=24),
    reviewer_roles=("revops", "sales_manager"),
    target_systems=("sandbox",),
)


@workflow.defn(name="RenewalRiskTriage")
class RenewalRiskWorkflow(LaneWorkflow):
    spec = SPEC

    @workflow.run
    async def run(self, input: LaneInput) -> LaneResult:
        return await self.run_lane()
