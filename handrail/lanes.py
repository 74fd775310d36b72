"""Activity-side bindings of the lanes this deployment runs."""

from activities import renewal_risk_context
from activities.lanes import LaneBinding, LaneRegistry
from adapters.llm.offline_renewal import OfflineRenewalReasoner
from contracts import PolicySnippet
from policies.renewal_risk import POLICY as RENEWAL_RISK_POLICY

RENEWAL_RISK = LaneBinding(
    name="renewal_risk",
    source_system="sandbox",
    reads=renewal_risk_context.READS,
    build_context=renewal_risk_context.build_context,
    reasoner=OfflineRenewalReasoner(),
    policy=RENEWAL_RISK_POLICY,
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


def default_registry() -> LaneRegistry:
    return LaneRegistry([RENEWAL_RISK])
