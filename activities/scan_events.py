"""Events that scans emit, built one way for every lane."""

from datetime import UTC, date, datetime, time

from adapters.base import SystemOfRecord
from contracts import EventEnvelope


def scan_event(
    system: SystemOfRecord,
    *,
    lane: str,
    event_type: str,
    record_type: str,
    record_id: str,
    key_suffix: str,
    as_of: date,
    correlation_id: str,
    account_id: str | None = None,
) -> EventEnvelope:
    """Build the event a scan emits for one record.

    The idempotency key is the system, its instance, the record and
    ``key_suffix`` (what makes the business fact unique, such as a renewal date),
    so repeated scans emit each fact once and a refreshed instance starts afresh.
    """
    return EventEnvelope(
        event_id=f"scan:{as_of.isoformat()}:{record_id}",
        event_type=event_type,
        source_system=system.system,
        source_record_type=record_type,
        source_record_id=record_id,
        occurred_at=datetime.combine(as_of, time(0), tzinfo=UTC),
        received_at=datetime.now(UTC),
        account_id=account_id,
        workflow=lane,
        idempotency_key=f"{system.system}:{system.instance}:{record_id}:{key_suffix}",
        correlation_id=correlation_id,
    )
