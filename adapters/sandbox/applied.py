"""The log of applied writes: storing each write's result and undoing a write.

Every function here runs in the caller's transaction, so that a write and its log
row commit or roll back together.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, Row, Table, delete, insert, select, update

from adapters.base import Conflict, RecordNotFound, RejectedByTarget
from adapters.sandbox.fields import object_table
from adapters.sandbox.models import AppliedWrite, table_of
from adapters.sandbox.writes import PlannedWrite
from contracts import Operation, Rollback, WritebackRequest, WritebackResult, from_value, to_value
from contracts.values import Scalar, ScalarValue

_APPLIED = table_of(AppliedWrite)
_SCALAR_VALUE: TypeAdapter[ScalarValue] = TypeAdapter(ScalarValue)


def record_write(
    connection: Connection, request: WritebackRequest, planned: PlannedWrite, *, now: datetime
) -> WritebackResult:
    """Write a planned change and store its result, in the caller's transaction."""
    table = object_table(planned.object_name)
    if planned.operation is Operation.CREATE:
        connection.execute(insert(table).values(planned.values))
        rollback = Rollback(delete_record_id=planned.record_id)
        after_image = None
    else:
        connection.execute(
            update(table).where(table.c.id == planned.record_id).values(planned.values)
        )
        before = planned.before_image or {}
        rollback = Rollback(before_image={name: to_value(value) for name, value in before.items()})
        after_image = _json_values(planned.values)

    result = WritebackResult(
        action_id=request.action_id,
        idempotency_key=request.idempotency_key,
        applied=True,
        target_record_id=planned.record_id,
        rollback=rollback,
        applied_at=now,
    )
    connection.execute(
        insert(_APPLIED).values(
            idempotency_key=request.idempotency_key,
            object=planned.object_name,
            record_id=planned.record_id,
            operation=planned.operation.value,
            result=result.model_dump(mode="json"),
            after_image=after_image,
            applied_at=now,
            reverted=False,
        )
    )
    return result


def stored_result(connection: Connection, idempotency_key: str) -> WritebackResult | None:
    """Return the stored result for an idempotency key, marked ``already_applied``, or None."""
    stored = connection.execute(
        select(_APPLIED.c.result).where(_APPLIED.c.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if stored is None:
        return None
    return WritebackResult.model_validate({**stored, "already_applied": True})


def revert_write(connection: Connection, idempotency_key: str) -> bool:
    """Undo an applied write from its log row and mark the row reverted.

    Returns:
        True if the write was undone now, False if it had been reverted before.

    Raises:
        RecordNotFound: no write was applied with this key, or the updated record
            no longer exists.
        Conflict: a field the write set has changed since.
    """
    applied = connection.execute(
        select(_APPLIED).where(_APPLIED.c.idempotency_key == idempotency_key)
    ).one_or_none()
    if applied is None:
        raise RecordNotFound(f"no write was applied with idempotency key {idempotency_key!r}")
    if applied.reverted:
        return False

    table = object_table(applied.object)
    if applied.operation == Operation.CREATE:
        # Deleting a record that someone already deleted changes nothing, which is fine.
        connection.execute(delete(table).where(table.c.id == applied.record_id))
    else:
        stored = WritebackResult.model_validate(applied.result)
        _restore(connection, table, applied, stored.rollback)

    connection.execute(
        update(_APPLIED).where(_APPLIED.c.idempotency_key == idempotency_key).values(reverted=True)
    )
    return True


def _restore(
    connection: Connection, table: Table, applied: Row[Any], rollback: Rollback | None
) -> None:
    """Restore the before-image of an update, unless a field it set has changed since."""
    if rollback is None or rollback.before_image is None:
        raise RejectedByTarget(f"write {applied.idempotency_key!r} has no before-image to restore")
    before = {name: from_value(value) for name, value in rollback.before_image.items()}
    after = _python_values(applied.after_image or {})

    columns = [table.c[name] for name in before]
    current = connection.execute(
        select(*columns).where(table.c.id == applied.record_id)
    ).one_or_none()
    if current is None:
        raise RecordNotFound(f"{applied.object} {applied.record_id!r} not found")
    changed = [name for name, value in after.items() if current._mapping[name] != value]
    if changed:
        raise Conflict(
            f"{applied.object} {applied.record_id!r} changed since the write "
            f"({', '.join(changed)}); not reverting"
        )
    connection.execute(update(table).where(table.c.id == applied.record_id).values(before))


def _json_values(values: Mapping[str, Scalar]) -> dict[str, Any]:
    return {name: to_value(value).model_dump(mode="json") for name, value in values.items()}


def _python_values(values: Mapping[str, Any]) -> dict[str, Scalar]:
    return {name: from_value(_SCALAR_VALUE.validate_python(raw)) for name, raw in values.items()}
