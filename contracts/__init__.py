"""Versioned pydantic models that every workflow, activity, update and query exchanges.

Nothing here imports from other Handrail packages, so any part can depend on it.
"""

from contracts.audit import Ack, AuditBatch, AuditEntry
from contracts.context import ContextBundle, ContextField, PolicySnippet, RecordRef, SourceRef
from contracts.enums import (
    ActionKind,
    Operation,
    ReviewOutcome,
    RiskLevel,
    RolloutMode,
    RunStatus,
    StatusReason,
    Verdict,
    WriteErrorKind,
)
from contracts.events import EventEnvelope
from contracts.policy import ActionDecision, PolicyDecision, PolicyInput, RuleHit
from contracts.proposal import AgentProposal, Evidence, ModelUsage, ProposedAction
from contracts.review import ReviewDecision, ReviewReceipt
from contracts.run import (
    EscalationInput,
    FetchContextInput,
    LaneInput,
    LaneResult,
    LaneRunSettings,
    ProposeInput,
    RunState,
    ScanInput,
    ScanResult,
)
from contracts.values import (
    BooleanValue,
    DateTimeValue,
    DateValue,
    DecimalValue,
    FieldValue,
    IntegerValue,
    NullValue,
    RecordsValue,
    ScalarValue,
    TextValue,
    from_value,
    to_value,
)
from contracts.writeback import Rollback, WritebackError, WritebackRequest, WritebackResult

__all__ = [
    "Ack",
    "ActionDecision",
    "ActionKind",
    "AgentProposal",
    "AuditBatch",
    "AuditEntry",
    "BooleanValue",
    "ContextBundle",
    "ContextField",
    "DateTimeValue",
    "DateValue",
    "DecimalValue",
    "EscalationInput",
    "EventEnvelope",
    "Evidence",
    "FetchContextInput",
    "FieldValue",
    "IntegerValue",
    "LaneInput",
    "LaneResult",
    "LaneRunSettings",
    "ModelUsage",
    "NullValue",
    "Operation",
    "PolicyDecision",
    "PolicyInput",
    "PolicySnippet",
    "ProposeInput",
    "ProposedAction",
    "RecordRef",
    "RecordsValue",
    "ReviewDecision",
    "ReviewOutcome",
    "ReviewReceipt",
    "RiskLevel",
    "Rollback",
    "RolloutMode",
    "RuleHit",
    "RunState",
    "RunStatus",
    "ScalarValue",
    "ScanInput",
    "ScanResult",
    "SourceRef",
    "StatusReason",
    "TextValue",
    "Verdict",
    "WriteErrorKind",
    "WritebackError",
    "WritebackRequest",
    "WritebackResult",
    "from_value",
    "to_value",
]
