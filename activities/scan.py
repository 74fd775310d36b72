"""The scan activity: find records entering a lane's window and submit one event each."""

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import UNKNOWN_LANE, adapter_failure
from activities.lanes import LaneRegistry
from adapters.base import AdapterError, SystemOfRecord
from contracts import EventEnvelope, ScanInput, ScanResult

Submit = Callable[[EventEnvelope], Awaitable[bool]]
"""Submits one event; returns True when it was a duplicate delivery."""


class ScanActivities:
    def __init__(
        self, lanes: LaneRegistry, systems: Mapping[str, SystemOfRecord], submit: Submit
    ) -> None:
        self._lanes = lanes
        self._systems = systems
        self._submit = submit

    @activity.defn(name="scan_window")
    async def scan_window(self, input: ScanInput) -> ScanResult:
        """Run the lane's scan and submit each event it finds; duplicates are counted."""
        binding = self._lanes.get(input.lane)
        if binding.scan is None:
            raise ApplicationError(
                f"lane {input.lane!r} has no scan", type=UNKNOWN_LANE, non_retryable=True
            )
        as_of = input.as_of or datetime.now(UTC).date()
        system = self._systems[binding.spec.source_system]
        try:
            events = binding.scan(
                system, input.model_copy(update={"as_of": as_of}), activity.info().workflow_id or ""
            )
        except AdapterError as err:
            raise adapter_failure(err, what=f"{input.lane} scan query") from err

        started = duplicates = failed = 0
        workflow_ids: list[str] = []
        for event in events:
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
            "scan %s %s: %d found, %d started, %d duplicates, %d failed",
            input.lane,
            as_of,
            len(events),
            started,
            duplicates,
            failed,
        )
        return ScanResult(
            lane=input.lane,
            as_of=as_of,
            found=len(events),
            started=started,
            duplicates=duplicates,
            failed=failed,
            workflow_ids=workflow_ids,
        )
