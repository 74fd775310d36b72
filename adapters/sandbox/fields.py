"""Lookup of sandbox objects and fields, and type checks of values for them.

Reads, filters and writes all go through these checks, so a wrong name or a value
of the wrong type fails the same way everywhere: ``UnknownField`` for a name,
``RejectedByTarget`` for a value.
"""

import operator
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    Table,
    false,
    or_,
)
from sqlalchemy.types import TypeDecorator

from adapters.base import Filter, RejectedByTarget, UnknownField
from adapters.sandbox.models import OBJECTS, PICKLISTS, table_of
from contracts.values import Scalar

_COMPARISONS: dict[str, Callable[[Column, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

_PYTHON_TYPES: tuple[tuple[type, type], ...] = (
    (Numeric, Decimal),
    (DateTime, datetime),
    (Date, date),
    (Boolean, bool),
    (Integer, int),
    (String, str),
)


def object_table(object_name: str) -> Table:
    """Return the table behind an object name, raising UnknownField for an unknown one."""
    model = OBJECTS.get(object_name)
    if model is None:
        known = ", ".join(sorted(OBJECTS))
        raise UnknownField(f"unknown object {object_name!r}; known objects: {known}")
    return table_of(model)


def object_column(table: Table, object_name: str, field: str) -> Column:
    """Return a column of an object's table, raising UnknownField for an unknown field."""
    if field not in table.c:
        raise UnknownField(f"unknown field {field!r} on {object_name}")
    return table.c[field]


def check_value(
    object_name: str, column: Column, value: Scalar, *, check_picklist: bool = True
) -> Scalar:
    """Check a value against a column's type, nullability and picklist.

    Args:
        object_name: the object the column belongs to, used in messages and to find
            the picklist.
        column: the column the value is for.
        value: the plain Python value.
        check_picklist: whether a picklist field must hold one of its allowed values.
            Defaults to True; query filters pass False, because filtering on a value
            no record has is not an error.

    Returns:
        The value to store: the same value, except that an ``int`` for a decimal
        field (money, quantity, tax rate) becomes a ``Decimal``.

    Raises:
        RejectedByTarget: the value is missing for a required field, has the wrong
            type, is out of range or is not one of the picklist values.
    """
    field = f"{object_name}.{column.name}"
    if value is None:
        if not column.nullable:
            raise RejectedByTarget(f"{field} is required and cannot be empty")
        return None

    expected = python_type(column)
    if expected is Decimal:
        return _check_decimal(field, column, value)
    if expected is datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise RejectedByTarget(f"{field} expects a timezone-aware datetime, got {value!r}")
        return value
    if expected is date:
        # datetime is a subclass of date, but a date-only field must not take a time.
        if not isinstance(value, date) or isinstance(value, datetime):
            raise RejectedByTarget(f"{field} expects a date, got {value!r}")
        return value
    if expected is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise RejectedByTarget(f"{field} expects an integer, got {value!r}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise RejectedByTarget(f"{field} expects a boolean, got {value!r}")
        return value
    if not isinstance(value, str):
        raise RejectedByTarget(f"{field} expects text, got {value!r}")

    allowed = PICKLISTS.get(object_name, {}).get(column.name)
    if check_picklist and allowed is not None and value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise RejectedByTarget(f"{field} does not allow {value!r}; allowed values: {choices}")
    return value


def python_type(column: Column) -> type:
    """Return the Python type of a sandbox column's values."""
    column_type = column.type
    # sqlmodel's AutoString and our UtcDateTime wrap a standard type.
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    for sql_type, python in _PYTHON_TYPES:
        if isinstance(column_type, sql_type):
            return python
    raise TypeError(f"column {column.name} has an unexpected type {column_type!r}")


def _check_decimal(field: str, column: Column, value: Scalar) -> Decimal:
    """Check a number against the precision and scale of a ``Numeric`` column."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RejectedByTarget(f"{field} expects a decimal number, got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise RejectedByTarget(f"{field} expects a finite number, got {value!r}")

    # Numeric(14, 2) for money: at most 12 digits before the decimal point and 2 after.
    column_type = column.type
    assert isinstance(column_type, Numeric)
    assert column_type.precision is not None and column_type.scale is not None
    scale = column_type.scale
    integer_digits = column_type.precision - scale
    try:
        exact = amount.quantize(Decimal(10) ** -scale) == amount
    except InvalidOperation:
        exact = False
    if not exact:
        raise RejectedByTarget(f"{field} takes at most {scale} decimal places, got {value}")
    if abs(amount) >= Decimal(10) ** integer_digits:
        raise RejectedByTarget(
            f"{field} is out of range (at most {integer_digits} integer digits): {value}"
        )
    return amount


def filter_clause(table: Table, object_name: str, condition: Filter) -> ColumnElement[bool]:
    """Return the SQL condition for one query filter, checking its field, operator and value."""
    column = object_column(table, object_name, condition.field)
    op = condition.op

    if op == "is_null":
        return column.is_(None)
    if op == "not_null":
        return column.is_not(None)
    if op == "in":
        if isinstance(condition.value, str) or not isinstance(condition.value, Sequence):
            raise RejectedByTarget(f"filter 'in' on {condition.field} needs a list of values")
        values = [
            check_value(object_name, column, item, check_picklist=False) for item in condition.value
        ]
        return column.in_(values) if values else false()
    if op not in _COMPARISONS:
        raise RejectedByTarget(f"unknown filter operator {op!r} on {condition.field}")
    if isinstance(condition.value, Sequence) and not isinstance(condition.value, str):
        raise RejectedByTarget(f"filter {op!r} on {condition.field} takes one value, not a list")

    value = condition.value
    if value is None:
        if op == "eq":
            return column.is_(None)
        if op == "ne":
            return column.is_not(None)
        raise RejectedByTarget(f"filter {op!r} on {condition.field} needs a value")
    value = check_value(object_name, column, value, check_picklist=False)
    if op == "ne":
        # As in CRM query languages, "not equal" also matches records with no value.
        return or_(column != value, column.is_(None))
    return _COMPARISONS[op](column, value)
