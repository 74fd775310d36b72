"""Least-privilege reads: a lane can only read the objects and fields it declared."""

from collections.abc import Mapping, Sequence
from datetime import datetime

from adapters.base import Filter, Row, SystemOfRecord
from contracts import SourceRef


class UndeclaredRead(PermissionError):
    """A lane tried to read an object or field it did not declare."""


class ScopedReader:
    """Wraps a system of record and refuses reads outside the lane's declared fields."""

    def __init__(
        self, adapter: SystemOfRecord, reads: Mapping[str, frozenset[str]], fetched_at: datetime
    ) -> None:
        self._adapter = adapter
        self._reads = reads
        self.fetched_at = fetched_at
        self.system = adapter.system

    def _check(self, object_name: str, fields: Sequence[str]) -> None:
        allowed = self._reads.get(object_name)
        if allowed is None:
            raise UndeclaredRead(f"object {object_name!r} is not declared by this lane")
        undeclared = sorted(set(fields) - allowed - {"id"})
        if undeclared:
            raise UndeclaredRead(f"fields not declared for {object_name}: {', '.join(undeclared)}")

    def declared(self, object_name: str) -> list[str]:
        """Return the fields the lane declared for an object, sorted."""
        self._check(object_name, [])
        return sorted(self._reads[object_name])

    def read(self, object_name: str, record_id: str, fields: Sequence[str]) -> Row:
        self._check(object_name, fields)
        return self._adapter.read(object_name, record_id, fields)

    def query(
        self,
        object_name: str,
        *,
        fields: Sequence[str],
        where: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
    ) -> list[Row]:
        self._check(object_name, [*fields, *(f.field for f in where)])
        return self._adapter.query(
            object_name,
            fields=fields,
            where=where,
            order_by=order_by,
            descending=descending,
            limit=limit,
        )

    def source(self, object_name: str, record_id: str, field: str) -> SourceRef:
        return SourceRef(
            system=self.system,
            object=object_name,
            id=record_id,
            field=field,
            fetched_at=self.fetched_at,
        )
