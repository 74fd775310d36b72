"""The propose activity: run the lane's reasoner and turn its failures into typed errors."""

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import (
    AGENT_REFUSED,
    AGENT_REQUEST_REJECTED,
    OUTPUT_INVALID,
    OUTPUT_TRUNCATED,
)
from activities.lanes import LaneRegistry
from adapters.llm.base import (
    ReasonerAuthFailed,
    ReasonerBadRequest,
    ReasonerOutputInvalid,
    ReasonerRateLimited,
    ReasonerRefused,
    ReasonerTruncated,
    ReasonerUnavailable,
)
from contracts import AgentProposal, ProposeInput


class ReasoningActivities:
    def __init__(self, lanes: LaneRegistry) -> None:
        self._lanes = lanes

    @activity.defn(name="propose")
    def propose(self, input: ProposeInput) -> AgentProposal:
        """Ask the lane's reasoner for a proposal on the context bundle.

        Refusal, truncation and invalid output are not retried: a person takes
        the case. Rate limits and outages are retried by Temporal, after the
        server's retry-after when it gives one. Auth and bad requests fail.
        """
        reasoner = self._lanes.get(input.lane).reasoner
        try:
            proposal = reasoner.propose(input.event, input.context, datetime.now(UTC))
        except ReasonerRefused as err:
            raise ApplicationError(str(err), type=AGENT_REFUSED, non_retryable=True) from err
        except ReasonerTruncated as err:
            raise ApplicationError(str(err), type=OUTPUT_TRUNCATED, non_retryable=True) from err
        except ReasonerOutputInvalid as err:
            raise ApplicationError(str(err), type=OUTPUT_INVALID, non_retryable=True) from err
        except ReasonerRateLimited as err:
            delay = (
                timedelta(seconds=err.retry_after_seconds)
                if err.retry_after_seconds is not None
                else None
            )
            raise ApplicationError(str(err), type="RateLimited", next_retry_delay=delay) from err
        except ReasonerUnavailable as err:
            raise ApplicationError(str(err), type="ReasonerUnavailable") from err
        except ReasonerAuthFailed as err:
            raise ApplicationError(str(err), type="AuthFailed", non_retryable=True) from err
        except ReasonerBadRequest as err:
            raise ApplicationError(
                str(err), type=AGENT_REQUEST_REJECTED, non_retryable=True
            ) from err
        _record_usage(input.lane, proposal)
        activity.logger.info(
            "proposal from %s: risk=%s confidence=%.2f actions=%d",
            proposal.reasoner,
            proposal.risk_level,
            proposal.confidence,
            len(proposal.actions),
        )
        return proposal


def _record_usage(lane: str, proposal: AgentProposal) -> None:
    usage = proposal.usage
    if usage is None:
        return
    meter = activity.metric_meter()
    labels = {"lane": lane, "model": usage.model}
    tokens = meter.create_counter("handrail_model_tokens", "Model tokens used", "tokens")
    tokens.add(usage.prompt_tokens, {**labels, "kind": "prompt"})
    tokens.add(usage.completion_tokens, {**labels, "kind": "completion"})
    tokens.add(usage.cached_tokens, {**labels, "kind": "cached"})
    meter.create_counter("handrail_model_calls", "Model calls", "calls").add(usage.calls, labels)
    if usage.cost_usd is not None:
        # Counters take integers, so cost is counted in micro-dollars.
        meter.create_counter("handrail_model_cost", "Model cost", "micro_usd").add(
            int(usage.cost_usd * 1_000_000), labels
        )
