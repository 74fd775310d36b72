"""Enumerations used across contracts. Values are stable strings: they are stored in
Temporal search attributes, the audit table and policy files."""

from enum import StrEnum


class RunStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    NEEDS_REVIEW = "needs_review"
    WRITTEN = "written"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.WRITTEN, RunStatus.SKIPPED, RunStatus.FAILED)


class StatusReason(StrEnum):
    NONE = "none"
    FETCHING_CONTEXT = "fetching_context"
    PROPOSING = "proposing"
    EVALUATING_POLICY = "evaluating_policy"
    AWAITING_REVIEWER = "awaiting_reviewer"
    REVIEW_ESCALATED = "review_escalated"
    WRITING = "writing"
    APPLIED = "applied"
    PARTIALLY_APPLIED = "partially_applied"
    AUTO_APPROVED = "auto_approved"
    APPROVED_BY_REVIEWER = "approved_by_reviewer"
    NO_ACTION_NEEDED = "no_action_needed"
    SHADOW_MODE = "shadow_mode"
    REJECTED_BY_REVIEWER = "rejected_by_reviewer"
    REVIEW_EXPIRED = "review_expired"
    POLICY_BLOCKED = "policy_blocked"
    RECORD_NOT_FOUND = "record_not_found"
    TARGET_REJECTED = "target_rejected"
    AGENT_OUTPUT_INVALID = "agent_output_invalid"
    CONTEXT_UNAVAILABLE = "context_unavailable"
    AGENT_UNAVAILABLE = "agent_unavailable"
    AGENT_DECLINED = "agent_declined"
    AGENT_OUTPUT_TRUNCATED = "agent_output_truncated"
    AGENT_REQUEST_REJECTED = "agent_request_rejected"
    CLOSED_BY_REVIEWER = "closed_by_reviewer"
    CANCELLED = "cancelled"
    WRITE_FAILED = "write_failed"
    PAUSED = "paused"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"


class ActionKind(StrEnum):
    """The business meaning of an action; policy rules are keyed on it."""

    INTERNAL_NOTE = "internal_note"
    FOLLOW_UP_TASK = "follow_up_task"
    RISK_FIELD = "risk_field"
    # A non-final workflow status on a record (e.g. a bill's review status).
    REVIEW_STATUS = "review_status"
    LEAD_SCORE = "lead_score"
    DEAL_FIELD = "deal_field"
    CREDIT_STATUS = "credit_status"
    FINANCIAL_MASTER_DATA = "financial_master_data"
    EXTERNAL_MESSAGE = "external_message"


class Verdict(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return {Verdict.ALLOW: 0, Verdict.REVIEW: 1, Verdict.BLOCK: 2}[self]


class ReviewOutcome(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"


class RolloutMode(StrEnum):
    SHADOW = "shadow"
    DRAFT = "draft"
    ASSISTED = "assisted"
    AUTONOMOUS = "autonomous"


class WriteErrorKind(StrEnum):
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    REJECTED_BY_TARGET = "rejected_by_target"
    CONFLICT = "conflict"
    AUTH = "auth"
