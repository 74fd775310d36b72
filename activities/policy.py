"""The evaluate_policy activity."""

from datetime import UTC, datetime

from temporalio import activity

from activities.lanes import LaneRegistry
from contracts import PolicyDecision, PolicyInput
from policies.engine import evaluate


class PolicyActivities:
    def __init__(self, lanes: LaneRegistry) -> None:
        self._lanes = lanes

    @activity.defn(name="evaluate_policy")
    def evaluate_policy(self, input: PolicyInput) -> PolicyDecision:
        """Decide allow, review or block for every proposed action."""
        policy = self._lanes.get(input.lane).spec.policy
        decision = evaluate(input.proposal, input.context, policy, now=datetime.now(UTC))
        activity.logger.info(
            "policy %s: %s",
            decision.policy_version,
            ", ".join(f"{a.action_id}={a.verdict.value}" for a in decision.actions) or "no actions",
        )
        return decision
