"""Status, search attributes and the audit trail of a lane run."""

import hashlib
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from contracts import AuditBatch, AuditEntry, LaneInput, RunState, RunStatus, StatusReason
    from workflows import search_attributes as sa
    from workflows.retries import READ_RETRY
    from workflows.spec import LaneSpec


def payload_hash(model: BaseModel) -> str:
    """Return the sha256 of a model's canonical JSON; audit rows keep this, not the payload."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()


class AuditTrail:
    """Keeps the run's status in its search attributes and batches its audit entries."""

    spec: ClassVar[LaneSpec]
    _input: LaneInput
    _state: RunState
    _audit: list[AuditEntry]
    _audit_seq: int

    def _set_status(self, status: RunStatus, reason: StatusReason) -> None:
        self._state.status = status
        self._state.reason = reason
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set(status.value),
                sa.STATUS_REASON.value_set(reason.value),
                sa.NEEDS_REVIEW.value_set(status == RunStatus.NEEDS_REVIEW),
            ]
        )

    def _upsert_identity(self) -> None:
        event = self._input.event
        updates = [
            sa.LANE.value_set(self.spec.name),
            sa.SOURCE_SYSTEM.value_set(event.source_system),
        ]
        if event.account_id:
            updates.append(sa.ACCOUNT_ID.value_set(event.account_id))
        workflow.upsert_search_attributes(updates)

    def _record(
        self,
        step: str,
        actor: str,
        payload: BaseModel | None,
        refs: dict[str, str] | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        self._audit_seq += 1
        info = workflow.info()
        refs = dict(refs or {})
        # Every entry after the first policy decision names the policy version
        # that governs the run.
        if self._state.policy is not None:
            refs.setdefault("policy_version", self._state.policy.policy_version)
        self._audit.append(
            AuditEntry(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                seq=self._audit_seq,
                lane=self.spec.name,
                step=step,
                actor=actor,
                at=workflow.now(),
                payload_sha256=payload_hash(payload) if payload is not None else None,
                refs=refs,
                detail=detail or {},
            )
        )

    async def _flush_audit(self) -> None:
        if not self._audit:
            return
        batch = AuditBatch(entries=self._audit)
        self._audit = []
        await workflow.execute_activity_method(
            AuditActivities.record_audit,
            batch,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=READ_RETRY,
        )
