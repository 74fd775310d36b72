"""The app database: event receipts, the write ledger and the append-only audit table.

SQLite under the data folder by default; PostgreSQL with a ``postgresql+psycopg://``
URL. Timestamps are stored in UTC and returned timezone-aware on both.
"""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint, event
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel, create_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """Return ``value`` as UTC-aware; SQLite hands stored timestamps back naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _timestamp() -> Column:
    return Column(DateTime(timezone=True), nullable=False)


class EventReceipt(SQLModel, table=True):
    """One row per workflow id: the first delivery and how many duplicates followed."""

    __tablename__ = "hr_event_receipt"

    workflow_id: str = Field(primary_key=True, max_length=260)
    lane: str = Field(index=True, max_length=60)
    event_type: str = Field(max_length=120)
    first_event_id: str = Field(max_length=200)
    first_received_at: datetime = Field(sa_column=_timestamp())
    last_received_at: datetime = Field(sa_column=_timestamp())
    deliveries: int = 1
    duplicates: int = 0


class WriteLedger(SQLModel, table=True):
    """One row per write, recorded before the write is sent to the target."""

    __tablename__ = "hr_write_ledger"

    idempotency_key: str = Field(primary_key=True, max_length=300)
    workflow_id: str = Field(index=True, max_length=260)
    action_id: str = Field(max_length=64)
    target_system: str = Field(max_length=50)
    target_object: str = Field(max_length=100)
    operation: str = Field(max_length=20)
    target_record_id: str | None = Field(default=None, max_length=200)
    request_sha256: str = Field(max_length=64)
    # pending: recorded, not yet confirmed; applied; failed: the target rejected it.
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    error_kind: str | None = Field(default=None, max_length=40)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    rollback_json: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())


class AuditRecord(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted by Handrail."""

    __tablename__ = "hr_audit"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_hr_audit_run_seq"),
        Index("ix_hr_audit_workflow", "workflow_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(max_length=260)
    run_id: str = Field(max_length=64)
    # Position of the entry within its run; with run_id it makes a retried
    # audit activity insert each entry once.
    seq: int
    lane: str = Field(max_length=60)
    step: str = Field(max_length=40)
    actor: str = Field(max_length=200)
    at: datetime = Field(sa_column=_timestamp())
    payload_sha256: str | None = Field(default=None, max_length=64)
    refs_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    detail_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class PolicySnapshot(SQLModel, table=True):
    """The files of every policy version a run used, so old runs re-evaluate the same way."""

    __tablename__ = "hr_policy_snapshot"

    version: str = Field(primary_key=True, max_length=80)
    lane: str = Field(max_length=60)
    files_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_timestamp())


class LaneState(SQLModel, table=True):
    """Operator overrides of a lane at run time: its rollout mode and whether it is paused."""

    __tablename__ = "hr_lane_state"

    lane: str = Field(primary_key=True, max_length=60)
    mode: str | None = Field(default=None, max_length=20)
    mode_changed_by: str | None = Field(default=None, max_length=200)
    mode_changed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    paused: bool = False
    paused_by: str | None = Field(default=None, max_length=200)
    paused_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


def make_engine(url: str) -> Engine:
    """Create an engine for the app database, creating the SQLite folder if needed."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the CLI read while the worker writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create the app tables that do not exist yet."""
    SQLModel.metadata.create_all(
        engine,
        tables=[
            EventReceipt.__table__,  # type: ignore[attr-defined]
            WriteLedger.__table__,  # type: ignore[attr-defined]
            AuditRecord.__table__,  # type: ignore[attr-defined]
            PolicySnapshot.__table__,  # type: ignore[attr-defined]
            LaneState.__table__,  # type: ignore[attr-defined]
        ],
    )
