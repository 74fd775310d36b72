"""Renewal-risk triage: flag renewals at risk, note the evidence and give the owner a task."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import LaneInput, LaneResult, PolicySnippet, RolloutMode
    from workflows.lane import LaneWorkflow
    from workflows.spec import LaneSpec

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
    source_system="sandbox",
    reads={
        "opportunity": frozenset(
            {
                "account_id",
                "name",
                "type",
                "stage",
                "amount",
                "close_date",
                "renewal_date",
                "forecast_category",
                "owner_id",
                "contract_id",
                "renewal_risk",
                "last_activity_date",
            }
        ),
        "account": frozenset({"name", "segment", "owner_id", "erp_customer_id"}),
        "user": frozenset({"name", "email", "active"}),
        "contract": frozenset({"annual_value", "start_date", "end_date"}),
        "support_ticket": frozenset(
            {"account_id", "subject", "body", "severity", "status", "opened_at"}
        ),
        "usage_summary": frozenset({"account_id", "month", "active_users", "licensed_seats"}),
        "meeting_note": frozenset({"account_id", "meeting_date", "body"}),
        "erp_customer": frozenset({"name", "status", "contract_value"}),
        "ar_invoice": frozenset({"erp_customer_id", "amount", "due_date", "paid", "credit_hold"}),
    },
    policy="renewal_risk.yaml",
    context_builder="activities.renewal_risk:build_context",
    reasoner="adapters.llm.offline_renewal:OfflineRenewalReasoner",
    scan="activities.renewal_risk:scan_renewals",
    scan_cron="0 6 * * *",
    policy_snippets=(
        PolicySnippet(
            id="renewal-risk-levels",
            title="Renewal risk levels",
            text="Risk is low, medium or high. High risk renewals get an owner follow-up "
            "within three days; medium within a week.",
        ),
        PolicySnippet(
            id="renewal-no-customer-contact",
            title="No direct customer contact",
            text="The renewal lane never contacts customers; owners decide on outreach.",
        ),
    ),
)


@workflow.defn(name="RenewalRiskTriage")
class RenewalRiskWorkflow(LaneWorkflow):
    spec = SPEC

    @workflow.run
    async def run(self, input: LaneInput) -> LaneResult:
        return await self.run_lane()
