"""The write_back activity: one idempotent write, recorded in the ledger before it is sent."""

import hashlib
from collections.abc import Mapping

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import adapter_failure
from adapters.base import AdapterError, AuthFailed, Conflict, RejectedByTarget, SystemOfRecord
from contracts import WritebackError, WritebackRequest, WritebackResult
from handrail.db import WriteLedger, utcnow


class WritebackActivities:
    def __init__(self, engine: Engine, systems: Mapping[str, SystemOfRecord]) -> None:
        self._engine = engine
        self._systems = systems

    @activity.defn(name="write_back")
    def write_back(self, request: WritebackRequest) -> WritebackResult:
        """Apply one write at most once.

        The ledger row is written before the request is sent. When a row already
        exists, an earlier attempt may have reached the target and then timed out,
        so the target is asked for the write by idempotency key before sending again.
        """
        system = self._systems.get(request.target_system)
        if system is None:
            raise ApplicationError(
                f"no adapter configured for target system {request.target_system!r}",
                type="UnknownTarget",
                non_retryable=True,
            )
        seen_before = self._record_attempt(request)
        if seen_before:
            found = system.find_applied(request.idempotency_key)
            if found is not None:
                activity.logger.info("write %s was already applied", request.idempotency_key)
                self._settle(request, found)
                return found

        try:
            result = system.apply(request)
        except (RejectedByTarget, Conflict, AuthFailed) as err:
            # The target rejected the request, so retrying it cannot succeed.
            result = WritebackResult(
                action_id=request.action_id,
                idempotency_key=request.idempotency_key,
                applied=False,
                response_status=err.status_code,
                error=WritebackError(
                    kind=err.kind, message=err.message, status_code=err.status_code
                ),
            )
            activity.logger.warning(
                "write %s rejected by %s: %s", request.idempotency_key, system.system, err.message
            )
        except AdapterError as err:
            self._note_error(request, err)
            raise adapter_failure(err, what=f"write {request.idempotency_key}") from err
        self._settle(request, result)
        return result

    def _record_attempt(self, request: WritebackRequest) -> bool:
        """Insert or bump the ledger row; True if an earlier attempt had recorded it."""
        now = utcnow()
        with Session(self._engine) as session:
            row = session.get(WriteLedger, request.idempotency_key)
            seen_before = row is not None
            if row is None:
                row = WriteLedger(
                    idempotency_key=request.idempotency_key,
                    workflow_id=request.workflow_id,
                    action_id=request.action_id,
                    target_system=request.target_system,
                    target_object=request.target_object,
                    operation=request.operation.value,
                    target_record_id=request.target_record_id,
                    request_sha256=hashlib.sha256(request.model_dump_json().encode()).hexdigest(),
                    created_at=now,
                    updated_at=now,
                )
            row.attempts += 1
            row.updated_at = now
            session.add(row)
            session.commit()
        return seen_before

    def _settle(self, request: WritebackRequest, result: WritebackResult) -> None:
        with Session(self._engine) as session:
            row = session.get(WriteLedger, request.idempotency_key)
            if row is None:
                return
            row.status = "applied" if result.applied else "failed"
            row.target_record_id = result.target_record_id or row.target_record_id
            row.rollback_json = result.rollback.model_dump_json() if result.rollback else None
            row.error_kind = result.error.kind.value if result.error else None
            row.error_message = result.error.message if result.error else None
            row.updated_at = utcnow()
            session.add(row)
            session.commit()

    def _note_error(self, request: WritebackRequest, err: AdapterError) -> None:
        with Session(self._engine) as session:
            row = session.get(WriteLedger, request.idempotency_key)
            if row is None:
                return
            row.error_kind = err.kind.value
            row.error_message = err.message
            row.updated_at = utcnow()
            session.add(row)
            session.commit()
