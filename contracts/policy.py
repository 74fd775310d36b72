"""Deterministic policy decisions on proposed actions."""

from pydantic import AwareDatetime, Field

from contracts.base import Contract, Strict
from contracts.context import ContextBundle
from contracts.enums import Verdict
from contracts.proposal import AgentProposal


class RuleHit(Strict):
    rule_id: str
    verdict: Verdict
    reason: str


class ActionDecision(Strict):
    action_id: str
    verdict: Verdict
    hits: list[RuleHit] = Field(description="every rule that fired, in evaluation order")
    reviewer_roles: list[str] = Field(
        default_factory=list, description="roles that may approve this action when reviewed"
    )
    roles_rule: str = Field(default="", description="the rule that set reviewer_roles")


class PolicyDecision(Contract):
    policy_version: str = Field(description="content hash of the policy that decided")
    evaluated_at: AwareDatetime
    actions: list[ActionDecision]
    run_hits: list[RuleHit] = Field(
        default_factory=list, description="review triggers that apply to the whole run"
    )

    def verdict_for(self, action_id: str) -> Verdict:
        for decision in self.actions:
            if decision.action_id == action_id:
                return decision.verdict
        raise KeyError(action_id)


class PolicyInput(Contract):
    """The single argument of the evaluate_policy activity."""

    lane: str
    proposal: AgentProposal
    context: ContextBundle
    policy_version: str | None = Field(
        default=None, description="the version to use; None for the current policy file"
    )
