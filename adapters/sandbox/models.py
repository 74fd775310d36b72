"""Tables of the sandbox system of record: a small CRM and ERP in one SQL database.

Every table name starts with ``sbx_`` so that the sandbox can share a database with
Handrail's own tables. The adapter exposes each table under an object name
(``OBJECTS``); the applied-writes table is internal and not exposed. The CRM and
accounts-receivable tables are defined here, the accounts-payable tables in
``models_erp``.

The schema works on SQLite and PostgreSQL. Money is ``Numeric(14, 2)``, date-only
fields are ``Date`` and timestamps go through ``UtcDateTime``, which stores UTC and
always returns timezone-aware values.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Table
from sqlmodel import Field, SQLModel

from adapters.sandbox.column_types import MONEY, UtcDateTime
from adapters.sandbox.models_erp import ERP_OBJECTS, ERP_PICKLISTS


class User(SQLModel, table=True):
    __tablename__ = "sbx_user"

    id: str = Field(primary_key=True)
    name: str
    email: str = Field(unique=True)
    role: str
    manager_id: str | None = Field(default=None, foreign_key="sbx_user.id")
    active: bool = True


class Account(SQLModel, table=True):
    __tablename__ = "sbx_account"

    id: str = Field(primary_key=True)
    name: str
    segment: str
    sector: str
    region: str
    owner_id: str | None = Field(default=None, foreign_key="sbx_user.id")
    # A link into the ERP, which is a separate system, so no foreign key enforces it.
    erp_customer_id: str | None = None


class Contract(SQLModel, table=True):
    __tablename__ = "sbx_contract"

    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="sbx_account.id", index=True)
    # No foreign key: opportunity.contract_id already points the other way, and a
    # cycle of foreign keys would complicate creating and dropping the tables.
    source_opportunity_id: str | None = None
    start_date: date
    end_date: date
    annual_value: Decimal = Field(sa_type=MONEY)
    currency: str = "USD"


class Opportunity(SQLModel, table=True):
    __tablename__ = "sbx_opportunity"

    id: str = Field(primary_key=True)
    account_id: str | None = Field(default=None, foreign_key="sbx_account.id", index=True)
    name: str
    type: str
    product: str | None = None
    amount: Decimal | None = Field(default=None, sa_type=MONEY)
    stage: str
    close_date: date | None = None
    renewal_date: date | None = Field(default=None, index=True)
    forecast_category: str
    owner_id: str | None = Field(default=None, foreign_key="sbx_user.id")
    contract_id: str | None = Field(default=None, foreign_key="sbx_contract.id")
    renewal_risk: str | None = None
    last_activity_date: date | None = None


class SupportTicket(SQLModel, table=True):
    __tablename__ = "sbx_support_ticket"
    __table_args__ = (CheckConstraint("severity BETWEEN 1 AND 4", name="sbx_ticket_severity"),)

    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="sbx_account.id", index=True)
    subject: str
    body: str
    severity: int
    status: str
    opened_at: datetime = Field(sa_type=UtcDateTime)


class UsageSummary(SQLModel, table=True):
    __tablename__ = "sbx_usage_summary"

    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="sbx_account.id", index=True)
    month: date
    active_users: int
    licensed_seats: int


class MeetingNote(SQLModel, table=True):
    __tablename__ = "sbx_meeting_note"

    id: str = Field(primary_key=True)
    account_id: str = Field(foreign_key="sbx_account.id", index=True)
    opportunity_id: str | None = Field(default=None, foreign_key="sbx_opportunity.id")
    author_id: str | None = Field(default=None, foreign_key="sbx_user.id")
    meeting_date: date
    body: str


class ErpCustomer(SQLModel, table=True):
    __tablename__ = "sbx_erp_customer"

    id: str = Field(primary_key=True)
    # A link back into the CRM, which the ERP does not enforce.
    account_id: str | None = Field(default=None, index=True)
    name: str
    status: str
    contract_value: Decimal | None = Field(default=None, sa_type=MONEY)


class ArInvoice(SQLModel, table=True):
    __tablename__ = "sbx_ar_invoice"

    id: str = Field(primary_key=True)
    erp_customer_id: str = Field(foreign_key="sbx_erp_customer.id", index=True)
    number: str
    amount: Decimal = Field(sa_type=MONEY)
    due_date: date
    paid: bool = False
    paid_date: date | None = None
    credit_hold: bool = False


class Task(SQLModel, table=True):
    __tablename__ = "sbx_task"

    id: str = Field(primary_key=True)
    # Any record a task can hang off (opportunity, account, contract, vendor bill), so no
    # foreign key.
    what_id: str = Field(index=True)
    account_id: str | None = Field(default=None, foreign_key="sbx_account.id")
    owner_id: str = Field(foreign_key="sbx_user.id")
    subject: str
    description: str = ""
    due_date: date
    status: str = "open"
    created_by: str
    created_at: datetime = Field(sa_type=UtcDateTime)


class Note(SQLModel, table=True):
    __tablename__ = "sbx_note"

    id: str = Field(primary_key=True)
    parent_id: str = Field(index=True)
    account_id: str | None = Field(default=None, foreign_key="sbx_account.id")
    title: str = ""
    body: str
    created_by: str
    created_at: datetime = Field(sa_type=UtcDateTime)


class AppliedWrite(SQLModel, table=True):
    """One write applied through the adapter, keyed by its idempotency key."""

    __tablename__ = "sbx_applied_write"

    idempotency_key: str = Field(primary_key=True)
    object: str
    record_id: str
    operation: str
    # The WritebackResult, as pydantic dumps it in JSON mode.
    result: dict[str, Any] = Field(sa_type=JSON)
    # The values the write set, as JSON-mode typed values, so that a revert can tell
    # whether someone has changed the record since.
    after_image: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    applied_at: datetime = Field(sa_type=UtcDateTime)
    reverted: bool = False


OBJECTS: dict[str, type[SQLModel]] = {
    "user": User,
    "account": Account,
    "contract": Contract,
    "opportunity": Opportunity,
    "support_ticket": SupportTicket,
    "usage_summary": UsageSummary,
    "meeting_note": MeetingNote,
    "erp_customer": ErpCustomer,
    "ar_invoice": ArInvoice,
    "task": Task,
    "note": Note,
    **ERP_OBJECTS,
}

# Allowed values of picklist fields, checked on writes the way a CRM checks them.
PICKLISTS: dict[str, dict[str, frozenset[str]]] = {
    "opportunity": {
        "type": frozenset({"new_business", "renewal"}),
        "stage": frozenset(
            {"Prospecting", "Engaging", "Proposal", "Negotiation", "Closed Won", "Closed Lost"}
        ),
        "forecast_category": frozenset({"pipeline", "best_case", "commit", "closed", "omitted"}),
        "renewal_risk": frozenset({"low", "medium", "high"}),
    },
    "task": {"status": frozenset({"open", "completed"})},
    **ERP_PICKLISTS,
}


def table_of(model: type[SQLModel]) -> Table:
    """Return the SQLAlchemy table behind a sandbox model."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# Creation order: parents before children, so foreign keys resolve on insert.
SANDBOX_TABLES: list[Table] = [
    table_of(model)
    for model in (
        User,
        Account,
        Contract,
        Opportunity,
        SupportTicket,
        UsageSummary,
        MeetingNote,
        ErpCustomer,
        ArInvoice,
        Task,
        Note,
    )
]
SANDBOX_TABLES += [table_of(model) for model in ERP_OBJECTS.values()]
SANDBOX_TABLES.append(table_of(AppliedWrite))
