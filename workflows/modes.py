"""Write plans: what a rollout mode makes of the policy verdicts of a run's actions."""

from collections.abc import Sequence
from enum import StrEnum

from contracts import RolloutMode, Verdict


class WritePlan(StrEnum):
    SHADOW = "shadow"
    REVIEW = "review"
    WRITE = "write"


def plan_writes(mode: RolloutMode, verdicts: Sequence[Verdict]) -> WritePlan:
    """Decide what happens to the actions policy did not block.

    Args:
        mode: the lane's rollout mode captured when the run started.
        verdicts: the verdicts of the actions that are not blocked.

    Shadow mode never writes. Draft and assisted send everything to a reviewer.
    Autonomous writes straight away unless policy asked for a review.
    """
    if mode == RolloutMode.SHADOW:
        return WritePlan.SHADOW
    if mode in (RolloutMode.DRAFT, RolloutMode.ASSISTED):
        return WritePlan.REVIEW
    if any(verdict != Verdict.ALLOW for verdict in verdicts):
        return WritePlan.REVIEW
    return WritePlan.WRITE
