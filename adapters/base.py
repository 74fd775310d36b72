"""The protocol every system of record implements, and its typed errors.

Adapters are synchronous: activities that call them run in the worker's thread
pool. Adapters never retry on their own; they raise a typed error and Temporal's
retry policy decides.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from contracts import WritebackRequest, WritebackResult, WriteErrorKind
from contracts.values import Scalar

FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "is_null", "not_null"]


@dataclass(frozen=True)
class Filter:
    """One condition of a query; conditions in a list are joined with AND."""

    field: str
    op: FilterOp
    value: Scalar | Sequence[Scalar] = None


Row = dict[str, Scalar]


class AdapterError(Exception):
    """Base of every error an adapter raises for a failed call."""

    kind: WriteErrorKind = WriteErrorKind.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds


class Transient(AdapterError):
    kind = WriteErrorKind.TRANSIENT


class RateLimited(AdapterError):
    kind = WriteErrorKind.RATE_LIMITED


class RejectedByTarget(AdapterError):
    kind = WriteErrorKind.REJECTED_BY_TARGET


class Conflict(AdapterError):
    kind = WriteErrorKind.CONFLICT


class AuthFailed(AdapterError):
    kind = WriteErrorKind.AUTH


class RecordNotFound(RejectedByTarget):
    """The record does not exist in the system of record."""


class UnknownField(RejectedByTarget):
    """An object or field the system of record does not have."""


@runtime_checkable
class SystemOfRecord(Protocol):
    """A CRM or ERP reached through a narrow, typed interface."""

    system: str

    @property
    def instance(self) -> str:
        """The id of this org or instance of the system; part of scan idempotency keys.

        A refreshed sandbox gets a new one, so events about its new records never
        collide with runs on the old data.
        """
        ...

    def read(self, object_name: str, record_id: str, fields: Sequence[str]) -> Row:
        """Return the named fields of one record.

        Raises:
            RecordNotFound: no record with that id.
            UnknownField: the object or a field does not exist.
        """
        ...

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
        """Return matching records; every row carries ``id`` besides the named fields."""
        ...

    def apply(self, request: WritebackRequest) -> WritebackResult:
        """Apply one write and remember it under ``request.idempotency_key``.

        A second call with the same key returns the first result with
        ``already_applied=True`` and changes nothing.
        """
        ...

    def find_applied(self, idempotency_key: str) -> WritebackResult | None:
        """Return the result of an earlier write with this key, or None if none was applied."""
        ...

    def revert(self, result: WritebackResult) -> None:
        """Undo an applied write from its rollback information."""
        ...


def row_fields(row: Mapping[str, Scalar], names: Sequence[str]) -> Row:
    """Return the named entries of a row, raising UnknownField for a missing one."""
    missing = [name for name in names if name not in row]
    if missing:
        raise UnknownField(f"unknown field(s): {', '.join(missing)}")
    return {name: row[name] for name in names}
