"""A reviewer's decision, sent to a waiting run as a Temporal Update."""

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import Contract
from contracts.enums import ReviewOutcome
from contracts.proposal import ProposedAction


class ReviewDecision(Contract):
    outcome: ReviewOutcome
    proposal_version: int = Field(ge=1, description="the version the reviewer looked at")
    action_ids: list[str] = Field(
        default_factory=list,
        description="pending actions this decision covers; the rest are dropped",
    )
    edited_actions: list[ProposedAction] = Field(
        default_factory=list, description="replacement actions for outcome=edit"
    )
    reviewer_id: str = Field(min_length=1)
    reviewer_role: str = Field(min_length=1)
    note: str = ""
    decided_at: AwareDatetime

    @model_validator(mode="after")
    def _check_edit(self) -> "ReviewDecision":
        if self.outcome == ReviewOutcome.EDIT and not self.edited_actions:
            raise ValueError("an edit decision needs edited_actions")
        if self.outcome != ReviewOutcome.EDIT and self.edited_actions:
            raise ValueError("edited_actions are only allowed with outcome=edit")
        edited_ids = {action.action_id for action in self.edited_actions}
        if not edited_ids <= set(self.action_ids):
            raise ValueError("every edited action must be listed in action_ids")
        return self


class ReviewReceipt(Contract):
    """The result of the decide Update once the decision is recorded."""

    accepted: bool
    proposal_version: int
    message: str
