"""Idempotent writes to a system of record."""

from pydantic import AwareDatetime, Field

from contracts.base import Contract, Strict
from contracts.enums import ActionKind, Operation, Verdict, WriteErrorKind
from contracts.values import ScalarValue


class Rollback(Strict):
    """How to undo an applied write: delete what was created, or restore a before-image."""

    delete_record_id: str | None = None
    before_image: dict[str, ScalarValue] | None = None


class WritebackRequest(Contract):
    workflow_id: str
    action_id: str
    kind: ActionKind
    target_system: str
    target_object: str
    target_record_id: str | None
    operation: Operation
    idempotency_key: str = Field(description="one per action: {workflow_id}:{action_id}")
    fields: dict[str, ScalarValue]
    agent_output_ref: str = Field(description="sha256 of the proposal the action came from")
    policy_result: Verdict
    policy_version: str
    approved_by: str | None = Field(default=None, description="reviewer id, or None if allowed")
    requested_at: AwareDatetime
    dry_run: bool = False


class WritebackError(Strict):
    kind: WriteErrorKind
    message: str
    status_code: int | None = None
    retry_after_seconds: float | None = None


class WritebackResult(Contract):
    action_id: str
    idempotency_key: str
    applied: bool
    target_record_id: str | None = Field(default=None, description="the target's own id")
    response_status: int | None = None
    rollback: Rollback | None = None
    error: WritebackError | None = None
    already_applied: bool = Field(
        default=False, description="found by idempotency key; nothing was sent again"
    )
    applied_at: AwareDatetime | None = None
