"""Validation of write requests against the sandbox, as a CRM validates an API call.

``plan_write`` checks a request inside the caller's transaction and returns what to
write. It writes nothing itself, which is what lets a dry run use it too.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, select

from adapters.base import RecordNotFound, RejectedByTarget
from adapters.sandbox.fields import check_value, object_column, object_table
from adapters.sandbox.models import PICKLISTS
from contracts import Operation, WritebackRequest, from_value
from contracts.values import Scalar

_ID_PREFIX = {"task": "tsk", "note": "nte"}

# Fields a caller may set on create; the rest (id, created_by, created_at) the
# sandbox sets itself.
_CREATE_FIELDS = {
    "task": frozenset(
        {"what_id", "account_id", "owner_id", "subject", "description", "due_date", "status"}
    ),
    "note": frozenset({"parent_id", "account_id", "title", "body"}),
}
_REQUIRED_FIELDS = {
    "task": ("owner_id", "subject", "due_date", "what_id"),
    "note": ("parent_id", "body"),
}
_UPDATE_OBJECTS = frozenset({"opportunity", "vendor_bill", "vendor"})

# Fields of the updatable objects that name another record, with that record's object.
_REFERENCES: dict[str, dict[str, str]] = {
    "opportunity": {"account_id": "account", "contract_id": "contract"},
    "vendor_bill": {
        "vendor_id": "vendor",
        "purchase_order_id": "purchase_order",
        "department_id": "department",
        "requester_id": "user",
    },
}
# Nullable fields that start empty but that an update may not set back to empty.
_NOT_CLEARABLE: dict[str, frozenset[str]] = {"vendor_bill": frozenset({"review_status"})}

# Objects a task or note may hang off, tried in this order, with the column that
# contains the CRM account of the parent. A vendor bill has no CRM account.
_PARENT_OBJECTS: dict[str, str | None] = {
    "opportunity": "account_id",
    "account": "id",
    "contract": "account_id",
    "vendor_bill": None,
}


@dataclass(frozen=True)
class PlannedWrite:
    """A validated write: the row to insert, or the changes and before-image of an update."""

    object_name: str
    record_id: str
    operation: Operation
    values: dict[str, Scalar]
    before_image: dict[str, Scalar] | None = None


def plan_write(
    connection: Connection,
    request: WritebackRequest,
    *,
    created_by: str,
    now: datetime,
) -> PlannedWrite:
    """Validate a write request and return the write to apply.

    Raises:
        UnknownField: unknown object or field.
        RejectedByTarget: unsupported operation, read-only or missing required field,
            wrong value type, an emptied field that may not be cleared, inactive
            owner, or a reference to a missing record.
        RecordNotFound: the record to update does not exist.
    """
    table = object_table(request.target_object)
    values = {name: from_value(value) for name, value in request.fields.items()}

    if request.operation is Operation.CREATE:
        return _plan_create(connection, request, table, values, created_by=created_by, now=now)
    return _plan_update(connection, request, table, values)


def _plan_create(
    connection: Connection,
    request: WritebackRequest,
    table: Table,
    values: dict[str, Scalar],
    *,
    created_by: str,
    now: datetime,
) -> PlannedWrite:
    object_name = request.target_object
    settable = _CREATE_FIELDS.get(object_name)
    if settable is None:
        creatable = ", ".join(sorted(_CREATE_FIELDS))
        raise RejectedByTarget(f"create is not supported on {object_name}; only on {creatable}")
    if request.target_record_id is not None:
        raise RejectedByTarget(
            f"create on {object_name} takes no target_record_id "
            f"(got {request.target_record_id!r}); the sandbox generates the id"
        )

    # Check names first so that a typo is reported as such, not as a missing field.
    _check_settable(table, object_name, values, settable)
    missing = [name for name in _REQUIRED_FIELDS[object_name] if _is_blank(values.get(name))]
    if missing:
        raise RejectedByTarget(f"missing required field(s) on {object_name}: {', '.join(missing)}")

    row = {name: check_value(object_name, table.c[name], value) for name, value in values.items()}
    if object_name == "task":
        _check_active_user(connection, row["owner_id"])

    parent_field = "what_id" if object_name == "task" else "parent_id"
    parent_account = _parent_account_id(connection, parent_field, row[parent_field])
    if row.get("account_id") is None:
        row["account_id"] = parent_account
    else:
        _check_exists(connection, "account", row["account_id"], field="account_id")

    record_id = f"{_ID_PREFIX[object_name]}_{uuid.uuid4().hex[:12]}"
    row.update(id=record_id, created_by=created_by, created_at=now)
    return PlannedWrite(object_name, record_id, Operation.CREATE, row)


def _plan_update(
    connection: Connection,
    request: WritebackRequest,
    table: Table,
    values: dict[str, Scalar],
) -> PlannedWrite:
    object_name = request.target_object
    if object_name not in _UPDATE_OBJECTS:
        updatable = ", ".join(sorted(_UPDATE_OBJECTS))
        raise RejectedByTarget(f"update is not supported on {object_name}; only on {updatable}")
    if request.target_record_id is None:
        raise RejectedByTarget(f"update on {object_name} needs a target_record_id")
    if not values:
        raise RejectedByTarget(f"update on {object_name} has no fields to set")

    settable = frozenset(table.c.keys()) - {"id"}
    _check_settable(table, object_name, values, settable)
    changes = {
        name: check_value(object_name, table.c[name], value) for name, value in values.items()
    }
    for name in _NOT_CLEARABLE.get(object_name, frozenset()):
        if name in changes and changes[name] is None:
            allowed = ", ".join(sorted(PICKLISTS[object_name][name]))
            raise RejectedByTarget(
                f"{object_name}.{name} cannot be cleared; allowed values: {allowed}"
            )
    if changes.get("owner_id") is not None:
        _check_active_user(connection, changes["owner_id"])
    for name, target in _REFERENCES.get(object_name, {}).items():
        if changes.get(name) is not None:
            _check_exists(connection, target, changes[name], field=name)

    columns = [table.c[name] for name in changes]
    current = connection.execute(
        select(*columns).where(table.c.id == request.target_record_id)
    ).one_or_none()
    if current is None:
        raise RecordNotFound(f"{object_name} {request.target_record_id!r} not found")
    before = dict(current._mapping)
    return PlannedWrite(object_name, request.target_record_id, Operation.UPDATE, changes, before)


def _check_settable(
    table: Table, object_name: str, values: Mapping[str, Scalar], settable: frozenset[str]
) -> None:
    for name in values:
        object_column(table, object_name, name)
        if name not in settable:
            raise RejectedByTarget(f"{object_name}.{name} is read-only")


def _is_blank(value: Scalar) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_active_user(connection: Connection, user_id: Scalar) -> None:
    users = object_table("user")
    active = connection.execute(
        select(users.c.active).where(users.c.id == user_id)
    ).scalar_one_or_none()
    if active is None:
        raise RejectedByTarget(f"owner_id {user_id!r} is not a user")
    if not active:
        raise RejectedByTarget(f"owner_id {user_id!r} is an inactive user")


def _check_exists(
    connection: Connection, object_name: str, record_id: Scalar, *, field: str
) -> None:
    table = object_table(object_name)
    found = connection.execute(select(table.c.id).where(table.c.id == record_id)).first()
    if found is None:
        raise RejectedByTarget(f"{field} {record_id!r} does not match any {object_name}")


def _parent_account_id(connection: Connection, field: str, parent_id: Scalar) -> str | None:
    """Return the CRM account of a parent record, rejecting a parent that does not exist.

    Returns None for a parent that has no account, such as a vendor bill.
    """
    for object_name, account_column in _PARENT_OBJECTS.items():
        table = object_table(object_name)
        selected = table.c.id if account_column is None else table.c[account_column]
        found = connection.execute(select(selected).where(table.c.id == parent_id)).first()
        if found is not None:
            return None if account_column is None else found[0]
    choices = ", ".join(_PARENT_OBJECTS)
    raise RejectedByTarget(f"{field} {parent_id!r} does not match any record ({choices})")
