"""Agent proposals. The agent never chooses permissions, because policy does."""

from decimal import Decimal

from pydantic import Field

from contracts.base import Contract, Strict
from contracts.enums import ActionKind, Operation, RiskLevel
from contracts.values import ScalarValue


class Evidence(Strict):
    field: str = Field(description="name of a field in the context bundle")
    observation: str


class ProposedAction(Strict):
    action_id: str = Field(pattern=r"^[a-z0-9_-]{1,64}$")
    kind: ActionKind
    operation: Operation
    target_system: str
    target_object: str
    target_record_id: str | None = Field(
        default=None, description="record to update; None when creating a record"
    )
    fields: dict[str, ScalarValue]
    rationale: str = ""


class ModelUsage(Strict):
    """Token use, latency and cost of the model calls behind one proposal."""

    model: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    calls: int = Field(default=1, ge=1, description="model calls, counting retries and repairs")
    latency_ms: int = Field(ge=0)
    cost_usd: Decimal | None = Field(default=None, description="from the configured price table")


class AgentProposal(Contract):
    summary: str
    risk_level: RiskLevel | None = None
    classification: str | None = None
    recommendation: str | None = Field(
        default=None, description="the agent's recommended next step, e.g. a routing queue"
    )
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    actions: list[ProposedAction] = Field(default_factory=list)
    reasoner: str = Field(description="reasoner name and version, e.g. offline-renewal-risk@1")
    # Fields of the context bundle that hold text typed by people; screens show
    # any text derived from them as untrusted.
    untrusted_inputs: list[str] = Field(default_factory=list)
    prompt_version: str | None = Field(default=None, description="content hash of the prompt")
    usage: ModelUsage | None = None
