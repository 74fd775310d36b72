"""Stable ``ApplicationError`` types that workflows and retry policies key on."""

from temporalio.exceptions import ApplicationError

from adapters.base import AdapterError, AuthFailed, RateLimited, RecordNotFound

NOT_FOUND = "RecordNotFound"
OUTPUT_INVALID = "AgentOutputInvalid"
AGENT_REFUSED = "AgentRefused"
OUTPUT_TRUNCATED = "AgentOutputTruncated"
AGENT_REQUEST_REJECTED = "AgentRequestRejected"
# Outcomes where the agent produced nothing usable and a person takes the case.
AGENT_HANDOFF = (OUTPUT_INVALID, AGENT_REFUSED, OUTPUT_TRUNCATED)
UNKNOWN_LANE = "UnknownLane"


def adapter_failure(err: AdapterError, *, what: str) -> ApplicationError:
    """Map a typed adapter error to the ApplicationError Temporal's retry policy reads.

    Args:
        err: the adapter's error.
        what: a short description of the call that failed, for the message.
    """
    message = f"{what} failed: {err.message}"
    if isinstance(err, RecordNotFound):
        return ApplicationError(message, type=NOT_FOUND, non_retryable=True)
    if isinstance(err, AuthFailed):
        return ApplicationError(message, type="AuthFailed", non_retryable=True)
    if isinstance(err, RateLimited):
        from datetime import timedelta

        delay = (
            timedelta(seconds=err.retry_after_seconds)
            if err.retry_after_seconds is not None
            else None
        )
        return ApplicationError(message, type="RateLimited", next_retry_delay=delay)
    return ApplicationError(message, type=type(err).__name__)
