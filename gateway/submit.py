"""The one function that turns a normalized event into a lane run.

The CLI, the scheduled scans and the webhook gateway all submit through
``submit_event``, so deduplication and counting behave the same everywhere.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import EventEnvelope, LaneInput, LaneRunSettings, RolloutMode
from handrail.db import EventReceipt, LaneState, utcnow
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable
from workflows.catalog import LANE_WORKFLOWS
from workflows.spec import LaneSpec

logger = logging.getLogger(__name__)


class InvalidEvent(ValueError):
    """The event names an unknown lane or an event type the lane does not take."""


@dataclass(frozen=True)
class SubmitResult:
    workflow_id: str
    run_id: str | None
    duplicate: bool
    deliveries: int


def lane_run_settings(
    spec: LaneSpec, settings: Settings, runtime_mode: RolloutMode | None = None
) -> LaneRunSettings:
    """Combine a lane's defaults with the operator's overrides.

    The mode comes from ``handrail lanes set-mode`` if set, then from settings,
    then from the lane's default.
    """
    overrides = settings.lanes.get(spec.name)
    return LaneRunSettings(
        mode=runtime_mode or (overrides and overrides.mode) or spec.default_mode,
        review_sla=(overrides and overrides.review_sla) or spec.review_sla,
        escalate_after=(overrides and overrides.escalate_after) or spec.escalate_after,
        reviewer_roles=list(spec.reviewer_roles),
    )


async def submit_event(
    client: Client, engine: Engine, settings: Settings, event: EventEnvelope
) -> SubmitResult:
    """Start the lane run for an event, or count it as a duplicate delivery.

    Raises:
        InvalidEvent: unknown lane or event type.
        TemporalUnavailable: Temporal did not accept the start; the sender should retry.
    """
    workflow_class = LANE_WORKFLOWS.get(event.workflow)
    if workflow_class is None:
        raise InvalidEvent(
            f"unknown lane {event.workflow!r} in field 'workflow'; "
            f"known lanes: {', '.join(sorted(LANE_WORKFLOWS))}"
        )
    spec = workflow_class.spec
    if event.event_type not in spec.event_types:
        raise InvalidEvent(
            f"lane {spec.name} does not take event type {event.event_type!r}; "
            f"it takes: {', '.join(spec.event_types)}"
        )

    try:
        handle = await client.start_workflow(
            workflow_class.run,
            LaneInput(
                event=event,
                settings=lane_run_settings(
                    spec, settings, await asyncio.to_thread(runtime_mode, engine, spec.name)
                ),
            ),
            id=event.workflow_id,
            task_queue=settings.task_queue,
            # A business fact runs once, even after its run has closed.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        deliveries = await asyncio.to_thread(_count_delivery, engine, event, duplicate=True)
        logger.info("duplicate delivery %d of %s acknowledged", deliveries, event.workflow_id)
        return SubmitResult(event.workflow_id, None, duplicate=True, deliveries=deliveries)
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise TemporalUnavailable(f"Temporal did not accept the start: {err.message}") from err
        raise
    deliveries = await asyncio.to_thread(_count_delivery, engine, event, duplicate=False)
    return SubmitResult(
        event.workflow_id, handle.result_run_id, duplicate=False, deliveries=deliveries
    )


def runtime_mode(engine: Engine, lane: str) -> RolloutMode | None:
    """Return the mode an operator set with ``handrail lanes set-mode``, if any."""
    with Session(engine) as session:
        state = session.get(LaneState, lane)
    return RolloutMode(state.mode) if state is not None and state.mode else None


def _count_delivery(engine: Engine, event: EventEnvelope, *, duplicate: bool) -> int:
    now = utcnow()
    for _ in range(2):
        with Session(engine) as session:
            receipt = session.get(EventReceipt, event.workflow_id)
            if receipt is None:
                receipt = EventReceipt(
                    workflow_id=event.workflow_id,
                    lane=event.workflow,
                    event_type=event.event_type,
                    first_event_id=event.event_id,
                    first_received_at=now,
                    last_received_at=now,
                    deliveries=1,
                    duplicates=1 if duplicate else 0,
                )
            else:
                receipt.deliveries += 1
                receipt.duplicates += 1
                receipt.last_received_at = now
            session.add(receipt)
            try:
                session.commit()
            except IntegrityError:
                # A concurrent delivery inserted the row first; count on top of it.
                session.rollback()
                continue
            return receipt.deliveries
    raise RuntimeError(f"could not record the delivery of {event.workflow_id}")
