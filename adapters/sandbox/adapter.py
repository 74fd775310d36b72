"""The sandbox system of record: a small CRM and ERP in a SQL database.

Reads select only the columns a caller names. Writes are checked the way a CRM
checks an API call. Each applied write is stored under its idempotency key in the
same transaction as the write itself, so the write and its key commit together or
not at all.
"""

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from adapters.base import Filter, RecordNotFound, RejectedByTarget, Row, Transient
from adapters.sandbox.applied import record_write, revert_write, stored_result
from adapters.sandbox.db import instance_id
from adapters.sandbox.fields import filter_clause, object_column, object_table
from adapters.sandbox.writes import plan_write
from contracts import WritebackRequest, WritebackResult

logger = logging.getLogger(__name__)


class SandboxAdapter:
    """The sandbox CRM and ERP behind the ``SystemOfRecord`` protocol.

    Args:
        engine: the engine of a database that has the sandbox schema.
        fail_after_apply: test hook. The next N applies that write something commit
            the write and its idempotency key, then raise
            ``Transient("timed out after apply")``, as a call that timed out after
            the server had applied it. Defaults to 0 (off).
    """

    system = "sandbox"

    def __init__(self, engine: Engine, *, fail_after_apply: int = 0) -> None:
        self.engine = engine
        self._failures_left = fail_after_apply
        # Activities call one adapter from several worker threads.
        self._lock = threading.Lock()

    @property
    def instance(self) -> str:
        """The id of this sandbox instance; ``reset`` gives a new one."""
        return instance_id(self.engine)

    def read(self, object_name: str, record_id: str, fields: Sequence[str]) -> Row:
        """Return the named fields of one record.

        Raises:
            UnknownField: the object or a field does not exist.
            RecordNotFound: no record with that id.
            Transient: the database could not be reached.
        """
        table = object_table(object_name)
        names = list(dict.fromkeys(["id", *fields]))
        columns = [object_column(table, object_name, name) for name in names]

        with _mapped_db_errors(), self.engine.connect() as connection:
            found = connection.execute(
                select(*columns).where(table.c.id == record_id)
            ).one_or_none()
        if found is None:
            raise RecordNotFound(f"{object_name} {record_id!r} not found")
        return {name: found._mapping[name] for name in fields}

    def query(
        self,
        object_name: str,
        *,
        fields: Sequence[str],
        where: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 200,
    ) -> list[Row]:
        """Return matching records; every row carries ``id`` besides the named fields.

        Rows are sorted by ``order_by`` with empty values last, then by id. A ``ne``
        filter also matches records where the field is empty.

        Raises:
            UnknownField: the object, a field, a filter field or ``order_by`` does not exist.
            RejectedByTarget: a filter value has the wrong type, or ``limit`` is below 1.
            Transient: the database could not be reached.
        """
        table = object_table(object_name)
        names = list(dict.fromkeys(["id", *fields]))
        statement = select(*[object_column(table, object_name, name) for name in names])
        if limit < 1:
            raise RejectedByTarget(f"limit must be at least 1, got {limit}")

        for condition in where:
            statement = statement.where(filter_clause(table, object_name, condition))
        if order_by is not None:
            column = object_column(table, object_name, order_by)
            ordered = column.desc() if descending else column.asc()
            statement = statement.order_by(ordered.nulls_last())
        statement = statement.order_by(table.c.id).limit(limit)

        with _mapped_db_errors(), self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [dict(row._mapping) for row in rows]

    def apply(self, request: WritebackRequest) -> WritebackResult:
        """Apply one write and store its result under ``request.idempotency_key``.

        A second call with the same key returns the stored result with
        ``already_applied=True`` and writes nothing. A dry run validates the request
        and returns ``applied=False`` without writing.

        Raises:
            UnknownField: unknown object or field.
            RecordNotFound: the record to update does not exist.
            RejectedByTarget: the request is invalid for the sandbox (see ``plan_write``).
            Transient: the database could not be reached, or the test hook fired.
        """
        if request.target_system != self.system:
            raise RejectedByTarget(
                f"request targets {request.target_system!r}, but this adapter is {self.system!r}"
            )
        created_by = f"handrail:{request.approved_by}" if request.approved_by else "handrail"
        now = datetime.now(UTC)

        if request.dry_run:
            return self._dry_run(request, created_by=created_by, now=now)

        try:
            with _mapped_db_errors(), self.engine.begin() as connection:
                stored = stored_result(connection, request.idempotency_key)
                if stored is not None:
                    return stored
                planned = plan_write(connection, request, created_by=created_by, now=now)
                result = record_write(connection, request, planned, now=now)
        except IntegrityError as error:
            # Another call with the same key may have committed first.
            stored = self.find_applied(request.idempotency_key)
            if stored is not None:
                return stored
            raise RejectedByTarget(f"the database rejected the write: {error.orig}") from error

        logger.info(
            "applied %s on %s %s (key %s)",
            planned.operation,
            planned.object_name,
            planned.record_id,
            request.idempotency_key,
        )
        self._fail_if_requested(request.idempotency_key)
        return result

    def find_applied(self, idempotency_key: str) -> WritebackResult | None:
        """Return the stored result of an earlier write with this key, or None if none was applied.

        NOTE: a write that was later reverted is still returned, without any sign of
        the revert, because ``WritebackResult`` has no field for it.
        """
        with _mapped_db_errors(), self.engine.connect() as connection:
            return stored_result(connection, idempotency_key)

    def revert(self, result: WritebackResult) -> None:
        """Undo an applied write: delete the record it created, or restore its before-image.

        The rollback information is taken from the stored write, not from ``result``.
        Reverting an already reverted write does nothing.

        Raises:
            RecordNotFound: no write was applied with this key, or the updated record
                no longer exists.
            Conflict: a field the write set has changed since, so restoring the
                before-image would overwrite someone else's edit.
        """
        with _mapped_db_errors(), self.engine.begin() as connection:
            reverted = revert_write(connection, result.idempotency_key)
        if reverted:
            logger.info("reverted the write with key %s", result.idempotency_key)
        else:
            logger.info("the write with key %s was already reverted", result.idempotency_key)

    def _dry_run(
        self, request: WritebackRequest, *, created_by: str, now: datetime
    ) -> WritebackResult:
        stored = self.find_applied(request.idempotency_key)
        if stored is not None:
            return stored
        with _mapped_db_errors(), self.engine.connect() as connection:
            plan_write(connection, request, created_by=created_by, now=now)
            connection.rollback()
        return WritebackResult(
            action_id=request.action_id,
            idempotency_key=request.idempotency_key,
            applied=False,
            target_record_id=request.target_record_id,
        )

    def _fail_if_requested(self, idempotency_key: str) -> None:
        with self._lock:
            if self._failures_left <= 0:
                return
            self._failures_left -= 1
        logger.warning("test hook: raising a timeout after applying key %s", idempotency_key)
        raise Transient("timed out after apply")


@contextmanager
def _mapped_db_errors() -> Iterator[None]:
    """Turn a lost or locked database into ``Transient``, so Temporal retries the call."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise Transient(f"sandbox database unavailable: {error.orig}") from error
