"""Column types shared by the CRM and ERP tables of the sandbox.

Money is ``Numeric(14, 2)``, quantities ``Numeric(12, 3)`` and tax rates
``Numeric(6, 4)`` (0.0825 for 8.25 %). Timestamps go through ``UtcDateTime``.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back as an aware ``datetime``.

    SQLite has no timezone type, so it returns naive values: they were written in
    UTC, and reading attaches UTC again.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: attach a timezone first")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


MONEY = Numeric(14, 2)
QUANTITY = Numeric(12, 3)
TAX_RATE = Numeric(6, 4)
