"""Shared test helpers: settings on temporary folders, a worker factory and an assert-eventually."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client, WorkflowHandle

from adapters.base import Filter
from contracts import EventEnvelope, LaneInput, LaneRunSettings, RolloutMode, RunState
from handrail.settings import Settings
from handrail.worker import Runtime, run_worker
from workflows.lane import LaneWorkflow
from workflows.renewal_risk import RENEWAL_WINDOW_STARTED, RenewalRiskWorkflow

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
) -> T:
    """Poll ``probe`` until ``check`` accepts its value; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await probe()
    while not check(value):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


@asynccontextmanager
async def running_worker(client: Client, runtime: Runtime) -> AsyncIterator[None]:
    """Run the full worker in the background for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(client, runtime, stop=stop))
    await asyncio.sleep(0.3)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def make_settings(data_dir: Path, address: str, **overrides: object) -> Settings:
    """Settings on a private data folder with a random task queue."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "temporal_address": address,
        "task_queue": f"test-{uuid.uuid4().hex[:10]}",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def renewal_opportunity(runtime: Runtime, account_id: str) -> str:
    """Return the id of the renewal opportunity of a seeded account."""
    rows = runtime.systems["sandbox"].query(
        "opportunity",
        fields=["type"],
        where=[Filter("account_id", "eq", account_id), Filter("type", "eq", "renewal")],
        order_by="renewal_date",
        descending=True,
        limit=1,
    )
    assert rows, f"no renewal opportunity for {account_id}"
    return str(rows[0]["id"])


def renewal_event(
    opportunity_id: str, account_id: str | None = None, key: str | None = None
) -> EventEnvelope:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=f"evt-{uuid.uuid4().hex[:12]}",
        event_type=RENEWAL_WINDOW_STARTED,
        source_system="sandbox",
        source_record_type="opportunity",
        source_record_id=opportunity_id,
        occurred_at=now,
        received_at=now,
        account_id=account_id,
        workflow="renewal_risk",
        idempotency_key=key or f"test:{opportunity_id}:{uuid.uuid4().hex[:8]}",
    )


def run_settings(
    mode: RolloutMode = RolloutMode.AUTONOMOUS,
    review_sla: timedelta = timedelta(hours=1),
    escalate_after: timedelta = timedelta(minutes=30),
) -> LaneRunSettings:
    return LaneRunSettings(
        mode=mode,
        review_sla=review_sla,
        escalate_after=escalate_after,
        reviewer_roles=["revops", "sales_manager"],
    )


async def start_run(
    client: Client, settings: Settings, event: EventEnvelope, lane_settings: LaneRunSettings
) -> WorkflowHandle[RenewalRiskWorkflow, object]:
    return await client.start_workflow(
        RenewalRiskWorkflow.run,
        LaneInput(event=event, settings=lane_settings),
        id=event.workflow_id,
        task_queue=settings.task_queue,
    )


async def wait_for_status(
    handle: WorkflowHandle, *statuses: str, timeout: float = 30.0
) -> RunState:
    """Query the run until its status is one of ``statuses``.

    A query fails until the first workflow task has run, and while a killed
    worker's sticky queue still owns the run, so failures count as "not yet".
    """

    async def probe() -> RunState | None:
        try:
            return await handle.query(LaneWorkflow.state, rpc_timeout=timedelta(seconds=5))
        except Exception:
            return None

    state = await eventually(
        probe, lambda s: s is not None and s.status.value in statuses, timeout=timeout
    )
    assert state is not None
    return state


def today() -> date:
    return datetime.now(UTC).date()
