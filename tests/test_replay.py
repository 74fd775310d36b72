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

from contracts import ReviewOutcome, RunStatus
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
from workflows.catalog import LANE_WORKFLOWS
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


async def test_live_history_replays(client: Client, settings: Settings, runtime: Runtime) -> None:
    history = await _approved_run_history(client, settings, runtime)
    outcome = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert outcome.replay_failure is None
    if os.environ.get("HANDRAIL_RECORD_HISTORIES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / "renewal_risk_approved.json").write_text(history.to_json())


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    outcome = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert outcome.replay_failure is None, outcome.replay_failure
