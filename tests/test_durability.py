"""Idempotency and crash safety: duplicates, a killed worker, a write that timed out."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus

from adapters.base import Filter
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import make_engine
from contracts import ReviewOutcome, RunStatus, ScanInput
from gateway.submit import submit_event
from handrail.db import EventReceipt, WriteLedger
from handrail.runs import decide
from handrail.settings import Settings
from handrail.worker import Runtime, build_runtime
from tests.helpers import (
    eventually,
    renewal_event,
    renewal_opportunity,
    run_settings,
    running_worker,
    start_run,
    today,
    wait_for_status,
)
from workflows.scan import WindowScanWorkflow


async def test_duplicate_event_runs_once(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    redelivery = event.model_copy(update={"event_id": "evt-redelivered"})
    async with running_worker(client, runtime):
        first = await submit_event(client, runtime.app_engine, settings, event)
        second = await submit_event(client, runtime.app_engine, settings, redelivery)
        await client.get_workflow_handle(event.workflow_id).result()
        # A delivery after the run closed is still a duplicate.
        third = await submit_event(client, runtime.app_engine, settings, event)
    assert not first.duplicate
    assert second.duplicate
    assert third.duplicate
    assert third.deliveries == 3
    with Session(runtime.app_engine) as session:
        receipt = session.get(EventReceipt, event.workflow_id)
    assert receipt is not None
    assert (receipt.deliveries, receipt.duplicates) == (3, 2)
    assert receipt.first_event_id == event.event_id
    tasks = runtime.systems["sandbox"].query(
        "task", fields=["what_id"], where=[Filter("what_id", "eq", opp)]
    )
    assert len(tasks) == 1


async def test_scan_starts_each_renewal_once(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    async with running_worker(client, runtime):
        scan = ScanInput(lane="renewal_risk", as_of=today())
        first = await client.execute_workflow(
            WindowScanWorkflow.run,
            scan,
            id=f"scan-1-{settings.task_queue}",
            task_queue=settings.task_queue,
        )
        second = await client.execute_workflow(
            WindowScanWorkflow.run,
            scan,
            id=f"scan-2-{settings.task_queue}",
            task_queue=settings.task_queue,
        )
        for workflow_id in first.workflow_ids:
            await wait_for_status(
                client.get_workflow_handle(workflow_id),
                "needs_review",
                "written",
                "skipped",
                "failed",
            )
        for workflow_id in first.workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test done")
    # The seeded book has 20 renewals in the 60-day window.
    assert (first.found, first.started, first.duplicates) == (20, 20, 0)
    assert (second.found, second.started, second.duplicates) == (20, 0, 20)
    assert sorted(first.workflow_ids) == sorted(second.workflow_ids)


async def test_write_timed_out_after_apply_not_repeated(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    sandbox_engine = runtime.systems["sandbox"].engine  # type: ignore[attr-defined]
    # Every first apply commits and then raises a timeout, as a lost response would.
    flaky = build_runtime(settings, {"sandbox": SandboxAdapter(sandbox_engine, fail_after_apply=3)})
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    async with running_worker(client, flaky):
        handle = await start_run(client, settings, event, run_settings())
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert [w.already_applied for w in result.writes] == [True, True, True]
    sandbox = runtime.systems["sandbox"]
    assert len(sandbox.query("task", fields=["what_id"], where=[Filter("what_id", "eq", opp)])) == 1
    assert (
        len(sandbox.query("note", fields=["parent_id"], where=[Filter("parent_id", "eq", opp)]))
        == 1
    )
    with Session(runtime.app_engine) as session:
        row = session.get(WriteLedger, f"{event.workflow_id}:task")
    assert row is not None
    assert (row.status, row.attempts) == ("applied", 2)


def _worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HANDRAIL_DATA_DIR": str(settings.data_dir),
        "HANDRAIL_TEMPORAL_ADDRESS": settings.address,
        "HANDRAIL_TASK_QUEUE": settings.task_queue,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "handrail.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_killed_worker_resumes_review(
    client: Client, settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    log = tmp_path / "worker.log"
    worker = _worker_process(settings, log)
    try:
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review", timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

        worker = _worker_process(settings, log)
        # The run is back once a new worker replies to queries for it.
        await wait_for_status(handle, "needs_review", timeout=60)
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.APPROVE,
            reviewer_id="revops@example.com",
        )
        result = await eventually(lambda: handle.result(), lambda r: r is not None, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert result.status == RunStatus.WRITTEN, log.read_text()[-2000:]
    sandbox = make_engine(settings.sandbox_database_url)
    adapter = SandboxAdapter(sandbox)
    assert len(adapter.query("task", fields=["what_id"], where=[Filter("what_id", "eq", opp)])) == 1
    assert (
        len(adapter.query("note", fields=["parent_id"], where=[Filter("parent_id", "eq", opp)]))
        == 1
    )
