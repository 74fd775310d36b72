"""Rollout modes, pause and policy versions against a real dev server."""

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from contracts import LaneResult, ReviewOutcome, RolloutMode, RunStatus, StatusReason, TextValue
from gateway.submit import submit_event
from handrail.db import AuditRecord
from handrail.lanes_admin import list_lanes, set_mode, set_paused, wake_paused_runs
from handrail.policy_store import POLICY_DIR, PolicyStore
from handrail.runs import decide
from handrail.settings import Settings
from handrail.worker import Runtime, build_runtime
from policies.schema import PolicyFileError
from tests.helpers import (
    eventually,
    renewal_event,
    renewal_opportunity,
    running_worker,
    wait_for_status,
)
from workflows.lane import LaneWorkflow

OPERATOR = "revops@example.com"


def audit_steps(runtime: Runtime, workflow_id: str) -> list[str]:
    with Session(runtime.app_engine) as session:
        rows = session.exec(
            select(AuditRecord)
            .where(AuditRecord.workflow_id == workflow_id)
            .order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return [row.step for row in rows]


async def test_mode_change_applies_to_new_runs(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    opp = renewal_opportunity(runtime, "acc_004")
    set_mode(runtime.app_engine, "renewal_risk", RolloutMode.SHADOW, OPERATOR)
    async with running_worker(client, runtime):
        shadow_event = renewal_event(opp, "acc_004")
        await submit_event(client, runtime.app_engine, settings, shadow_event)
        shadow = await wait_for_status(
            client.get_workflow_handle(shadow_event.workflow_id), "needs_review"
        )
        set_mode(runtime.app_engine, "renewal_risk", RolloutMode.AUTONOMOUS, OPERATOR)
        live_event = renewal_event(opp, "acc_004")
        await submit_event(client, runtime.app_engine, settings, live_event)
        live = await client.get_workflow_handle(
            live_event.workflow_id, result_type=LaneResult
        ).result()
        # The shadow run keeps the mode it started with.
        still = await client.get_workflow_handle(shadow_event.workflow_id).query(LaneWorkflow.state)
        await client.get_workflow_handle(shadow_event.workflow_id).terminate("test done")
    assert (shadow.mode, shadow.reason) == (RolloutMode.SHADOW, StatusReason.SHADOW_MODE)
    assert shadow.writes == []
    assert still.mode == RolloutMode.SHADOW
    assert live.status == RunStatus.WRITTEN
    with Session(runtime.app_engine) as session:
        changes = session.exec(select(AuditRecord).where(AuditRecord.step == "mode_change")).all()
    assert [(row.actor, json.loads(row.detail_json)["to"]) for row in changes] == [
        (OPERATOR, "shadow"),
        (OPERATOR, "autonomous"),
    ]
    [lane] = [s for s in list_lanes(runtime.app_engine, settings) if s.lane == "renewal_risk"]
    assert (lane.mode, lane.mode_changed_by) == (RolloutMode.AUTONOMOUS, OPERATOR)


async def test_shadow_agreement_rate(client: Client, settings: Settings, runtime: Runtime) -> None:
    set_mode(runtime.app_engine, "renewal_risk", RolloutMode.SHADOW, OPERATOR)
    outcomes = [ReviewOutcome.APPROVE, ReviewOutcome.REJECT]
    async with running_worker(client, runtime):
        for account, outcome in zip(["acc_004", "acc_009"], outcomes, strict=True):
            event = renewal_event(renewal_opportunity(runtime, account), account)
            await submit_event(client, runtime.app_engine, settings, event)
            handle = client.get_workflow_handle(event.workflow_id)
            await wait_for_status(handle, "needs_review")
            await decide(client, settings, event.workflow_id, outcome=outcome, reviewer_id=OPERATOR)
            await handle.result()
    [lane] = [s for s in list_lanes(runtime.app_engine, settings) if s.lane == "renewal_risk"]
    assert (lane.shadow_reviews, lane.shadow_agreed) == (2, 1)
    assert lane.agreement_rate == 0.5


async def test_paused_lane_holds_runs(client: Client, settings: Settings, runtime: Runtime) -> None:
    opp = renewal_opportunity(runtime, "acc_004")
    event = renewal_event(opp, "acc_004")
    set_paused(runtime.app_engine, "renewal_risk", True, OPERATOR)
    async with running_worker(client, runtime):
        result = await submit_event(client, runtime.app_engine, settings, event)
        assert not result.duplicate
        handle = client.get_workflow_handle(event.workflow_id, result_type=LaneResult)
        held = await eventually(
            lambda: handle.query(LaneWorkflow.state),
            lambda s: s.reason == StatusReason.PAUSED,
        )
        assert held.status == RunStatus.RECEIVED
        assert held.proposal is None
        assert "proposal" not in audit_steps(runtime, event.workflow_id)
        assert set_paused(runtime.app_engine, "renewal_risk", False, OPERATOR)
        assert await wake_paused_runs(client, "renewal_risk", OPERATOR) >= 1
        done = await handle.result()
    assert done.status == RunStatus.WRITTEN
    steps = audit_steps(runtime, event.workflow_id)
    assert steps.index("paused") < steps.index("resumed") < steps.index("proposal")
    with Session(runtime.app_engine) as session:
        actors = session.exec(
            select(AuditRecord.actor).where(AuditRecord.step.in_(["pause", "resume"]))  # type: ignore[attr-defined]
        ).all()
    assert actors == [OPERATOR, OPERATOR]


async def test_edit_uses_run_policy_version(
    client: Client, settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    for name in ("default.yaml", "renewal_risk.yaml", "invoice_exception.yaml"):
        (tmp_path / name).write_text((POLICY_DIR / name).read_text())
    runtime.policies = PolicyStore(runtime.app_engine, tmp_path)
    runtime.policies.load_all(["renewal_risk.yaml", "invoice_exception.yaml"])
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        await submit_event(client, runtime.app_engine, settings, event)
        handle = client.get_workflow_handle(event.workflow_id)
        state = await wait_for_status(handle, "needs_review")
        first_version = state.policy.policy_version  # type: ignore[union-attr]

        # The operator now also allows "critical"; only new runs may use it.
        lane_file = tmp_path / "renewal_risk.yaml"
        lane_file.write_text(
            lane_file.read_text().replace("[low, medium, high]", "[low, medium, high, critical]")
        )
        risk = next(a for a in state.proposal.actions if a.action_id == "risk")  # type: ignore[union-attr]
        edited = risk.model_copy(update={"fields": {"renewal_risk": TextValue(value="critical")}})
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.EDIT,
            reviewer_id=OPERATOR,
            action_ids=["risk"],
            edited_actions=[edited],
        )
        final = await wait_for_status(handle, "written", "skipped", "failed")
    assert final.policy is not None
    assert final.policy.policy_version == first_version
    assert final.status == RunStatus.SKIPPED
    assert final.reason == StatusReason.POLICY_BLOCKED
    assert runtime.policies.current("renewal_risk.yaml").version() != first_version


def test_broken_policy_keeps_last_valid(runtime: Runtime, tmp_path: Path) -> None:
    for name in ("default.yaml", "renewal_risk.yaml"):
        (tmp_path / name).write_text((POLICY_DIR / name).read_text())
    store = PolicyStore(runtime.app_engine, tmp_path)
    store.load_all(["renewal_risk.yaml"])
    good = store.current("renewal_risk.yaml").version()
    (tmp_path / "renewal_risk.yaml").write_text("lane: [unclosed")
    assert store.current("renewal_risk.yaml").version() == good


def test_worker_refuses_broken_policy(settings: Settings, tmp_path: Path) -> None:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    for name in ("default.yaml", "renewal_risk.yaml", "invoice_exception.yaml"):
        (policy_dir / name).write_text((POLICY_DIR / name).read_text())
    lane_file = policy_dir / "invoice_exception.yaml"
    lane_file.write_text(lane_file.read_text().replace("verdict: review", "verdict: maybe", 1))
    broken = settings.model_copy(update={"policy_dir": policy_dir})
    with pytest.raises(PolicyFileError, match=r"invoice_exception\.yaml:\d+: rules\.0\.verdict"):
        build_runtime(broken)
