"""Typed field values.

CRM and ERP fields are carried with their type so that a date-only field stays a
``date`` (not a string, not a datetime) through JSON, Temporal payloads and the
database, and money stays a ``Decimal``.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import Strict


class TextValue(Strict):
    type: Literal["text"] = "text"
    value: str
    # Free text typed by people in the system of record (notes, ticket bodies,
    # memos). It is data for the reasoner, never an instruction to it.
    untrusted: bool = False


class DecimalValue(Strict):
    type: Literal["decimal"] = "decimal"
    value: Decimal
    currency: str | None = None


class IntegerValue(Strict):
    type: Literal["integer"] = "integer"
    value: int


class BooleanValue(Strict):
    type: Literal["boolean"] = "boolean"
    value: bool


class DateValue(Strict):
    type: Literal["date"] = "date"
    value: date


class DateTimeValue(Strict):
    type: Literal["datetime"] = "datetime"
    value: AwareDatetime


class NullValue(Strict):
    """An explicitly empty field, as distinct from a field that was never read."""

    type: Literal["null"] = "null"


ScalarValue = Annotated[
    TextValue | DecimalValue | IntegerValue | BooleanValue | DateValue | DateTimeValue | NullValue,
    Field(discriminator="type"),
]


class RecordsValue(Strict):
    """A list of related records (open opportunities, meeting notes), each a row of scalars."""

    type: Literal["records"] = "records"
    rows: list[dict[str, ScalarValue]]


FieldValue = Annotated[
    TextValue
    | DecimalValue
    | IntegerValue
    | BooleanValue
    | DateValue
    | DateTimeValue
    | NullValue
    | RecordsValue,
    Field(discriminator="type"),
]

Scalar = str | Decimal | int | bool | date | None


def to_value(raw: object, *, untrusted: bool = False) -> ScalarValue:
    """Wrap a Python scalar in its typed value.

    Args:
        raw: a ``str``, ``bool``, ``int``, ``float``, ``Decimal``, ``date``, aware
            ``datetime`` or ``None``.
        untrusted: marks text typed by people in the system of record. Defaults to False.

    Raises:
        TypeError: for any other type, or a naive datetime.
    """
    from datetime import datetime

    if raw is None:
        return NullValue()
    if isinstance(raw, bool):
        return BooleanValue(value=raw)
    if isinstance(raw, int):
        return IntegerValue(value=raw)
    if isinstance(raw, float):
        return DecimalValue(value=Decimal(str(raw)))
    if isinstance(raw, Decimal):
        return DecimalValue(value=raw)
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise TypeError("naive datetime: attach a timezone before wrapping it")
        return DateTimeValue(value=raw)
    if isinstance(raw, date):
        return DateValue(value=raw)
    if isinstance(raw, str):
        return TextValue(value=raw, untrusted=untrusted)
    raise TypeError(f"unsupported field type {type(raw).__name__}")


def from_value(value: ScalarValue) -> Scalar:
    """Return the plain Python value of a typed scalar (``None`` for ``NullValue``)."""
    if isinstance(value, NullValue):
        return None
    return value.value
