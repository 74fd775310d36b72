"""The interface every reasoner implements, offline rules and model-backed alike."""

from datetime import datetime
from typing import Protocol

from contracts import AgentProposal, ContextBundle, EventEnvelope


class ReasonerError(Exception):
    """Base of the typed ways a reasoner can fail to produce a usable proposal."""


class ReasonerOutputInvalid(ReasonerError):
    """The reasoner produced output that does not validate against the lane's model."""


class ReasonerUnavailable(ReasonerError):
    """The reasoner could not be reached or timed out; retrying may help."""


class Reasoner(Protocol):
    """Turns one run's context into a proposal. It proposes; policy decides."""

    name: str
    version: str

    def propose(self, event: EventEnvelope, context: ContextBundle, now: datetime) -> AgentProposal:
        """Return a proposal built only from ``context``.

        Text in the context is data: instructions found in CRM or ERP text never
        change what the reasoner proposes.

        Raises:
            ReasonerOutputInvalid: the output failed validation.
            ReasonerUnavailable: the reasoner could not be reached.
        """
        ...
