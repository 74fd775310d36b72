"""The scan activity: find records entering a lane's window and submit one event each."""

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, time, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import adapter_failure
from adapters.base import AdapterError, Filter, SystemOfRecord
from contracts import EventEnvelope, ScanInput, ScanResult
from workflows.renewal_risk import RENEWAL_WINDOW_STARTED

Submit = Callable[[EventEnvelope], Awaitable[bool]]
"""Submits one event; returns True when it was a duplicate delivery."""


class ScanActivities:
    def __init__(self, systems: Mapping[str, SystemOfRecord], submit: Submit) -> None:
        self._systems = systems
        self._submit = submit

    @activity.defn(name="scan_window")
    async def scan_window(self, input: ScanInput) -> ScanResult:
        """Emit ``renewal_window_started`` for renewals due within the window.

        The idempotency key is the opportunity and its renewal date, so a daily
        scan emits each renewal once, and a moved renewal date starts a new run.
        """
        if input.lane != "renewal_risk":
            raise ApplicationError(
                f"no window scan for lane {input.lane!r}", type="UnknownLane", non_retryable=True
            )
        as_of = input.as_of or datetime.now(UTC).date()
        system = self._systems["sandbox"]
        try:
            rows = system.query(
                "opportunity",
                fields=["account_id", "owner_id", "renewal_date", "stage"],
                where=[
                    Filter("renewal_date", "gt", as_of),
                    Filter("renewal_date", "le", as_of + timedelta(days=input.window_days)),
                ],
                order_by="renewal_date",
                limit=5000,
            )
        except AdapterError as err:
            raise adapter_failure(err, what="renewal window query") from err

        started = duplicates = failed = 0
        workflow_ids: list[str] = []
        occurred_at = datetime.combine(as_of, time(0), tzinfo=UTC)
        for row in rows:
            opp_id = str(row["id"])
            event = EventEnvelope(
                event_id=f"scan:{as_of.isoformat()}:{opp_id}",
                event_type=RENEWAL_WINDOW_STARTED,
                source_system=system.system,
                source_record_type="opportunity",
                source_record_id=opp_id,
                occurred_at=occurred_at,
                received_at=datetime.now(UTC),
                account_id=row["account_id"] if isinstance(row["account_id"], str) else None,
                workflow=input.lane,
                idempotency_key=f"{system.system}:{opp_id}:{row['renewal_date']}",
                correlation_id=activity.info().workflow_id,
            )
            try:
                duplicate = await self._submit(event)
            except Exception:  # one bad record must not stop the scan
                activity.logger.exception("could not submit %s", event.workflow_id)
                failed += 1
                continue
            duplicates += duplicate
            started += not duplicate
            workflow_ids.append(event.workflow_id)
            activity.heartbeat(started + duplicates + failed)
        activity.logger.info(
            "scan %s: %d in window, %d started, %d duplicates, %d failed",
            as_of,
            len(rows),
            started,
            duplicates,
            failed,
        )
        return ScanResult(
            lane=input.lane,
            as_of=as_of,
            found=len(rows),
            started=started,
            duplicates=duplicates,
            failed=failed,
            workflow_ids=workflow_ids,
        )
