"""The evaluate_policy activity."""

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lanes import LaneRegistry
from contracts import PolicyDecision, PolicyInput
from handrail.policy_store import PolicyStore, PolicyVersionUnknown
from policies.engine import evaluate


class PolicyActivities:
    def __init__(self, lanes: LaneRegistry, store: PolicyStore) -> None:
        self._lanes = lanes
        self._store = store

    @activity.defn(name="evaluate_policy")
    def evaluate_policy(self, input: PolicyInput) -> PolicyDecision:
        """Decide allow, review or block for every proposed action.

        Without a version the current policy file decides; with one, the stored
        snapshot of that version does, so reviewer edits meet the run's own policy.
        """
        file_name = self._lanes.get(input.lane).spec.policy
        try:
            policy = (
                self._store.by_version(file_name, input.policy_version)
                if input.policy_version
                else self._store.current(file_name)
            )
        except PolicyVersionUnknown as err:
            raise ApplicationError(
                str(err), type="PolicyVersionUnknown", non_retryable=True
            ) from err
        decision = evaluate(input.proposal, input.context, policy, now=datetime.now(UTC))
        activity.logger.info(
            "policy %s: %s",
            decision.policy_version,
            ", ".join(f"{a.action_id}={a.verdict.value}" for a in decision.actions) or "no actions",
        )
        return decision
