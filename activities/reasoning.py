"""The propose activity."""

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import OUTPUT_INVALID
from activities.lanes import LaneRegistry
from adapters.llm.base import ReasonerOutputInvalid, ReasonerUnavailable
from contracts import AgentProposal, ProposeInput


class ReasoningActivities:
    def __init__(self, lanes: LaneRegistry) -> None:
        self._lanes = lanes

    @activity.defn(name="propose")
    def propose(self, input: ProposeInput) -> AgentProposal:
        """Ask the lane's reasoner for a proposal on the context bundle."""
        reasoner = self._lanes.get(input.lane).reasoner
        try:
            proposal = reasoner.propose(input.event, input.context, datetime.now(UTC))
        except ReasonerOutputInvalid as err:
            raise ApplicationError(str(err), type=OUTPUT_INVALID, non_retryable=True) from err
        except ReasonerUnavailable as err:
            raise ApplicationError(str(err), type="ReasonerUnavailable") from err
        activity.logger.info(
            "proposal from %s: risk=%s confidence=%.2f actions=%d",
            proposal.reasoner,
            proposal.risk_level,
            proposal.confidence,
            len(proposal.actions),
        )
        return proposal
