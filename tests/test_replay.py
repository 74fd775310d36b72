"""Replay recorded histories through the current workflow code.

A change to workflow code that would make an old run's history diverge fails
here before it reaches a worker. Set HANDRAIL_RECORD_HISTORIES=1 to refresh
the stored fixtures from a live run after an intended, patched change.
"""

import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from adapters.sandbox.seed_erp_scenarios import ERP_SCENARIO_BILLS
from contracts import LaneInput, ReviewOutcome, RolloutMode, RunStatus
from gateway.submit import lane_run_settings
from handrail.runs import decide
from handrail.settings import Settings
from handrail.worker import Runtime
from tests.helpers import (
    renewal_event,
    renewal_opportunity,
    run_settings,
    running_worker,
    start_run,
    wait_for_status,
)
from tests.test_invoice_lane import bill_event
from workflows.catalog import LANE_WORKFLOWS
from workflows.invoice_exception import SPEC as INVOICE_SPEC
from workflows.invoice_exception import InvoiceExceptionWorkflow
from workflows.scan import WindowScanWorkflow

FIXTURES = Path(__file__).parent / "fixtures" / "histories"


def replayer() -> Replayer:
    return Replayer(
        workflows=[*LANE_WORKFLOWS.values(), WindowScanWorkflow],
        data_converter=pydantic_data_converter,
    )


async def _approved_run_history(
    client: Client, settings: Settings, runtime: Runtime
) -> WorkflowHistory:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006", key=f"replay:{opp}")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.APPROVE,
            reviewer_id="revops@example.com",
            note="replay fixture",
        )
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    return await handle.fetch_history()


async def _finance_approved_bill_history(
    client: Client, settings: Settings, runtime: Runtime
) -> WorkflowHistory:
    event = bill_event(ERP_SCENARIO_BILLS["tax_mismatch"])
    async with running_worker(client, runtime):
        handle = await client.start_workflow(
            InvoiceExceptionWorkflow.run,
            LaneInput(event=event, settings=lane_run_settings(INVOICE_SPEC, settings)),
            id=event.workflow_id,
            task_queue=settings.task_queue,
        )
        await wait_for_status(handle, "needs_review")
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.APPROVE,
            reviewer_id="finance@example.com",
        )
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    return await handle.fetch_history()


async def _shadow_reviewed_history(
    client: Client, settings: Settings, runtime: Runtime
) -> WorkflowHistory:
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004", key=f"replay-shadow:{opp}")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings(mode=RolloutMode.SHADOW))
        await wait_for_status(handle, "needs_review")
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.APPROVE,
            reviewer_id="revops@example.com",
        )
        result = await handle.result()
    assert result.status == RunStatus.SKIPPED
    return await handle.fetch_history()


# Fixtures recorded before the pause gate, shadow review and hand-off patches
# keep their names; the _patched ones carry the patch markers.
@pytest.mark.parametrize(
    ("name", "record"),
    [
        ("renewal_risk_approved_patched", _approved_run_history),
        ("invoice_exception_finance_approved_patched", _finance_approved_bill_history),
        ("renewal_risk_shadow_reviewed", _shadow_reviewed_history),
    ],
)
async def test_live_history_replays(
    client: Client, settings: Settings, runtime: Runtime, name: str, record: object
) -> None:
    history = await record(client, settings, runtime)  # type: ignore[operator]
    outcome = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert outcome.replay_failure is None
    if os.environ.get("HANDRAIL_RECORD_HISTORIES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / f"{name}.json").write_text(history.to_json())


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    outcome = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert outcome.replay_failure is None, outcome.replay_failure
