"""Activities that append to the audit table and raise escalations."""

import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity

from contracts import Ack, AuditBatch, AuditEntry, EscalationInput
from handrail.db import AuditRecord


class AuditActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_audit")
    def record_audit(self, batch: AuditBatch) -> Ack:
        """Append entries; an entry already stored by an earlier attempt is skipped."""
        inserted = 0
        with Session(self._engine) as session:
            for entry in batch.entries:
                exists = session.exec(
                    select(AuditRecord.id).where(
                        AuditRecord.run_id == entry.run_id, AuditRecord.seq == entry.seq
                    )
                ).first()
                if exists is not None:
                    continue
                session.add(_row(entry))
                inserted += 1
            session.commit()
        return Ack(count=inserted)

    @activity.defn(name="notify_escalation")
    def notify_escalation(self, input: EscalationInput) -> Ack:
        """Tell the lane's owners that a review is overdue.

        NOTE: the notice goes to the worker log only; no chat or e-mail channel
        is wired in yet. The run records the escalation in its audit trail.
        """
        activity.logger.warning(
            "review of %s overdue since %s; it expires at %s (owner %s)",
            input.workflow_id,
            input.waiting_since.isoformat(),
            input.deadline.isoformat(),
            input.owner_email or "unassigned",
        )
        return Ack(count=1, message="escalated")


def _row(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        workflow_id=entry.workflow_id,
        run_id=entry.run_id,
        seq=entry.seq,
        lane=entry.lane,
        step=entry.step,
        actor=entry.actor,
        at=entry.at,
        payload_sha256=entry.payload_sha256,
        refs_json=json.dumps(entry.refs, sort_keys=True),
        detail_json=json.dumps(entry.detail, sort_keys=True),
    )
