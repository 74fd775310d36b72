"""The renewal-risk lane end to end against a real Temporal dev server."""

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters.base import Filter
from contracts import (
    DateValue,
    LaneResult,
    ReviewOutcome,
    RolloutMode,
    RunStatus,
    StatusReason,
    TextValue,
)
from handrail.db import AuditRecord, WriteLedger
from handrail.runs import DecisionRejected, decide, end_runs_on_system, get_state, list_runs
from handrail.settings import Settings
from handrail.worker import Runtime
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
from workflows.lane import LaneWorkflow

REVIEWER = "revops@example.com"


def created(runtime: Runtime, opp: str) -> tuple[int, int]:
    """Count the tasks and notes on an opportunity."""
    sandbox = runtime.systems["sandbox"]
    tasks = sandbox.query("task", fields=["what_id"], where=[Filter("what_id", "eq", opp)])
    notes = sandbox.query("note", fields=["parent_id"], where=[Filter("parent_id", "eq", opp)])
    return len(tasks), len(notes)


def audit_steps(runtime: Runtime, workflow_id: str) -> list[str]:
    with Session(runtime.app_engine) as session:
        rows = session.exec(
            select(AuditRecord)
            .where(AuditRecord.workflow_id == workflow_id)
            .order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return [row.step for row in rows]


async def test_moderate_renewal_written_without_review(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        result = await handle.result()
    assert isinstance(result, LaneResult)
    assert result.status == RunStatus.WRITTEN
    assert result.reason == StatusReason.AUTO_APPROVED
    assert [w.action_id for w in result.writes] == ["note", "task", "risk"]
    assert all(w.applied for w in result.writes)
    assert created(runtime, opp) == (1, 1)
    sandbox = runtime.systems["sandbox"]
    assert sandbox.read("opportunity", opp, ["renewal_risk"])["renewal_risk"] == "medium"
    steps = audit_steps(runtime, event.workflow_id)
    assert steps[:4] == ["received", "context", "proposal", "policy"]
    assert steps.count("write") == 3
    assert steps[-1] == "finished"


async def test_review_approved_writes_once(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        state = await wait_for_status(handle, "needs_review")
        assert state.pending_action_ids == ["note", "task", "risk"]
        assert created(runtime, opp) == (0, 0)

        runs = await eventually(
            lambda: list_runs(
                client, f"HandrailStatus = 'needs_review' AND WorkflowId = '{event.workflow_id}'"
            ),
            lambda found: len(found) == 1,
        )
        assert runs[0].risk_level == "high"
        assert runs[0].account_id == "acc_006"

        receipt = await decide(
            client, settings, event.workflow_id, outcome=ReviewOutcome.APPROVE, reviewer_id=REVIEWER
        )
        assert receipt.accepted
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert result.reason == StatusReason.APPROVED_BY_REVIEWER
    assert created(runtime, opp) == (1, 1)
    with Session(runtime.app_engine) as session:
        ledger = session.exec(
            select(WriteLedger).where(WriteLedger.workflow_id == event.workflow_id)
        ).all()
    assert sorted(row.status for row in ledger) == ["applied", "applied", "applied"]
    assert "review" in audit_steps(runtime, event.workflow_id)
    with Session(runtime.app_engine) as session:
        rows = session.exec(
            select(AuditRecord).where(AuditRecord.workflow_id == event.workflow_id)
        ).all()
    versions = {
        json.loads(row.refs_json).get("policy_version")
        for row in rows
        if row.step in ("policy", "review", "write", "finished")
    }
    assert len(versions) == 1
    assert next(iter(versions)).startswith("sha256:")


async def test_review_rejected_writes_nothing(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_007")
    event = renewal_event(opp, "acc_007")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.REJECT,
            reviewer_id=REVIEWER,
            note="owner already on it",
        )
        result = await handle.result()
    assert result.status == RunStatus.SKIPPED
    assert result.reason == StatusReason.REJECTED_BY_REVIEWER
    assert result.writes == []
    assert created(runtime, opp) == (0, 0)


async def test_stale_version_rejected_without_trace(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        with pytest.raises(DecisionRejected, match="stale proposal version 2"):
            await decide(
                client,
                settings,
                event.workflow_id,
                outcome=ReviewOutcome.APPROVE,
                reviewer_id=REVIEWER,
                proposal_version=2,
            )
        with pytest.raises(DecisionRejected, match="not awaiting review: bogus"):
            await decide(
                client,
                settings,
                event.workflow_id,
                outcome=ReviewOutcome.APPROVE,
                reviewer_id=REVIEWER,
                action_ids=["bogus"],
            )
        history = await handle.fetch_history()
        update_events = [
            e
            for e in history.events
            if e.event_type
            in (
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            )
        ]
        assert update_events == []
        state = await handle.query(LaneWorkflow.state)
        assert state.status == RunStatus.NEEDS_REVIEW
        assert state.decisions == []
        await handle.terminate("test done")
    assert created(runtime, opp) == (0, 0)


async def test_reviewer_role_checked(client: Client, settings: Settings, runtime: Runtime) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        with pytest.raises(DecisionRejected, match="needs a reviewer with role revops"):
            await decide(
                client,
                settings,
                event.workflow_id,
                outcome=ReviewOutcome.APPROVE,
                reviewer_id="finance@example.com",
            )
        await handle.terminate("test done")


async def test_concurrent_approvals_one_wins(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        outcomes = await asyncio.gather(
            *[
                decide(
                    client,
                    settings,
                    event.workflow_id,
                    outcome=ReviewOutcome.APPROVE,
                    reviewer_id=reviewer,
                )
                for reviewer in (REVIEWER, "morgan.manager@example.com", REVIEWER)
            ],
            return_exceptions=True,
        )
        result = await handle.result()
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(accepted) == 1
    assert all(isinstance(o, DecisionRejected) for o in outcomes if o not in accepted)
    assert result.status == RunStatus.WRITTEN
    assert created(runtime, opp) == (1, 1)


async def test_edit_reevaluated_before_write(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        state = await wait_for_status(handle, "needs_review")
        assert state.proposal is not None
        actions = {a.action_id: a for a in state.proposal.actions}
        new_due = today() + timedelta(days=10)
        task = actions["task"].model_copy(
            update={"fields": {**actions["task"].fields, "due_date": DateValue(value=new_due)}}
        )
        # A value outside the approved list must be blocked even after approval.
        risk = actions["risk"].model_copy(
            update={"fields": {"renewal_risk": TextValue(value="critical")}}
        )
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.EDIT,
            reviewer_id=REVIEWER,
            action_ids=["task", "risk"],
            edited_actions=[task, risk],
        )
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert [w.action_id for w in result.writes] == ["task"]
    sandbox = runtime.systems["sandbox"]
    tasks = sandbox.query("task", fields=["due_date"], where=[Filter("what_id", "eq", opp)])
    assert [t["due_date"] for t in tasks] == [new_due]
    assert created(runtime, opp) == (1, 0)
    assert sandbox.read("opportunity", opp, ["renewal_risk"])["renewal_risk"] != "critical"


async def test_review_sla_expires(client: Client, settings: Settings, runtime: Runtime) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    lane_settings = run_settings(
        review_sla=timedelta(seconds=4), escalate_after=timedelta(seconds=1)
    )
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, lane_settings)
        escalated = await wait_for_status(handle, "needs_review")
        escalated = await eventually(
            lambda: handle.query(LaneWorkflow.state), lambda s: s.escalated, timeout=20
        )
        assert escalated.reason == StatusReason.REVIEW_ESCALATED
        result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status == RunStatus.SKIPPED
    assert result.reason == StatusReason.REVIEW_EXPIRED
    assert created(runtime, opp) == (0, 0)
    assert "escalation" in audit_steps(runtime, event.workflow_id)


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        (RolloutMode.SHADOW, RunStatus.NEEDS_REVIEW, StatusReason.SHADOW_MODE),
        (RolloutMode.DRAFT, RunStatus.NEEDS_REVIEW, StatusReason.AWAITING_REVIEWER),
        (RolloutMode.ASSISTED, RunStatus.NEEDS_REVIEW, StatusReason.AWAITING_REVIEWER),
    ],
)
async def test_rollout_mode_controls_writes(
    client: Client,
    settings: Settings,
    runtime: Runtime,
    mode: RolloutMode,
    status: RunStatus,
    reason: StatusReason,
) -> None:
    # acc_004 is written straight away in autonomous mode.
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings(mode=mode))
        state = await wait_for_status(handle, "needs_review", "skipped", "written", "failed")
        if state.status == RunStatus.NEEDS_REVIEW:
            await handle.terminate("test done")
    assert state.status == status
    assert state.reason == reason
    assert state.writes == []
    assert created(runtime, opp) == (0, 0)
    if mode == RolloutMode.SHADOW:
        assert state.shadow_writes == ["note", "task", "risk"]


async def test_closed_renewal_skipped(client: Client, settings: Settings, runtime: Runtime) -> None:
    opp = renewal_opportunity(runtime, "acc_013")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, renewal_event(opp, "acc_013"), run_settings())
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.NO_ACTION_NEEDED)


async def test_missing_record_skipped(client: Client, settings: Settings, runtime: Runtime) -> None:
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, renewal_event("opp_missing"), run_settings())
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.RECORD_NOT_FOUND)
    assert "opp_missing" in result.message


async def test_update_after_end_rejected(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await handle.result()
        with pytest.raises(DecisionRejected, match="not awaiting review"):
            await decide(
                client,
                settings,
                event.workflow_id,
                outcome=ReviewOutcome.APPROVE,
                reviewer_id=REVIEWER,
            )
        state = await get_state(client, event.workflow_id)
    assert state.status == RunStatus.WRITTEN


async def test_shadow_approval_never_writes(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings(mode=RolloutMode.SHADOW))
        state = await wait_for_status(handle, "needs_review")
        assert state.reason == StatusReason.SHADOW_MODE
        assert state.shadow_writes == ["note", "task", "risk"]
        await decide(
            client, settings, event.workflow_id, outcome=ReviewOutcome.APPROVE, reviewer_id=REVIEWER
        )
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.SHADOW_MODE)
    assert result.writes == []
    assert created(runtime, opp) == (0, 0)
    with Session(runtime.app_engine) as session:
        rows = session.exec(
            select(AuditRecord).where(
                AuditRecord.workflow_id == event.workflow_id, AuditRecord.step == "shadow_review"
            )
        ).all()
    assert [json.loads(row.detail_json)["agreed"] for row in rows] == ["true"]


async def test_cancelled_run_closes_visibly(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        handle = await start_run(client, settings, event, run_settings())
        await wait_for_status(handle, "needs_review")
        assert await end_runs_on_system(client, "sandbox") >= 1
        result = await handle.result()
        with pytest.raises(DecisionRejected, match="not awaiting review"):
            await decide(
                client,
                settings,
                event.workflow_id,
                outcome=ReviewOutcome.APPROVE,
                reviewer_id=REVIEWER,
            )
        runs = await eventually(
            lambda: list_runs(client, f"WorkflowId = '{event.workflow_id}'"),
            lambda found: bool(found) and found[0].status == "skipped",
        )
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.CANCELLED)
    assert runs[0].reason == "cancelled"
    assert created(runtime, opp) == (0, 0)
    assert audit_steps(runtime, event.workflow_id)[-1] == "finished"
