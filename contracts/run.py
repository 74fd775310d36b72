"""Inputs, results and queryable state of a lane run."""

from datetime import date, timedelta

from pydantic import AwareDatetime, Field

from contracts.base import Contract, Strict
from contracts.context import ContextBundle
from contracts.enums import RiskLevel, RolloutMode, RunStatus, StatusReason
from contracts.events import EventEnvelope
from contracts.policy import PolicyDecision
from contracts.proposal import AgentProposal
from contracts.review import ReviewDecision
from contracts.writeback import WritebackResult


class LaneRunSettings(Strict):
    """Lane settings captured when the run starts, so a replay uses the values the run used."""

    mode: RolloutMode
    review_sla: timedelta = Field(description="how long a run waits for a reviewer in total")
    escalate_after: timedelta = Field(description="when to escalate a run still waiting")
    reviewer_roles: list[str] = Field(min_length=1)


class LaneInput(Contract):
    event: EventEnvelope
    settings: LaneRunSettings


class LaneResult(Contract):
    workflow_id: str
    status: RunStatus
    reason: StatusReason
    risk_level: RiskLevel | None = None
    writes: list[WritebackResult] = Field(default_factory=list)
    message: str = ""


class RunState(Contract):
    """The result of the ``state`` query: everything a reviewer needs to decide."""

    workflow_id: str
    lane: str
    status: RunStatus
    reason: StatusReason
    mode: RolloutMode
    event: EventEnvelope
    context: ContextBundle | None = None
    proposal: AgentProposal | None = None
    proposal_version: int = 0
    policy: PolicyDecision | None = None
    pending_action_ids: list[str] = Field(default_factory=list)
    decisions: list[ReviewDecision] = Field(default_factory=list)
    writes: list[WritebackResult] = Field(default_factory=list)
    shadow_writes: list[str] = Field(
        default_factory=list, description="action ids that would have been written in shadow mode"
    )
    escalated: bool = False
    review_deadline: AwareDatetime | None = None
    message: str = ""


class FetchContextInput(Contract):
    lane: str
    event: EventEnvelope


class ProposeInput(Contract):
    lane: str
    event: EventEnvelope
    context: ContextBundle


class EscalationInput(Contract):
    workflow_id: str
    lane: str
    owner_email: str | None
    waiting_since: AwareDatetime
    deadline: AwareDatetime


class ScanInput(Contract):
    """Input of a scheduled scan: which lane to feed and, for tests, which day is today."""

    lane: str
    as_of: date | None = None
    window_days: int = Field(default=60, ge=1, le=365)


class ScanResult(Contract):
    lane: str
    as_of: date
    found: int
    started: int
    duplicates: int
    failed: int = 0
    workflow_ids: list[str] = Field(
        default_factory=list, description="runs started or found as duplicates, in scan order"
    )


class LaneGateInput(Contract):
    lane: str


class LaneGate(Contract):
    """The operator's switches for a lane, read by runs before each agent step and write."""

    paused: bool
    paused_by: str | None = None
    mode: RolloutMode | None = Field(default=None, description="runtime override, if any")


class ResumeSignal(Contract):
    resumed_by: str
