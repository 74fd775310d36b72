"""The renewal-risk lane end to end against a real Temporal dev server."""

from sqlmodel import Session, select
from temporalio.client import Client

from adapters.base import Filter
from contracts import LaneResult, RunStatus, StatusReason
from handrail.db import AuditRecord
from handrail.settings import Settings
from handrail.worker import Runtime
from tests.helpers import (
    renewal_event,
    renewal_opportunity,
    run_settings,
    running_worker,
    start_run,
)


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
    sandbox = runtime.systems["sandbox"]
    tasks = sandbox.query("task", fields=["what_id"], where=[Filter("what_id", "eq", opp)])
    assert len(tasks) == 1
    assert sandbox.read("opportunity", opp, ["renewal_risk"])["renewal_risk"] == "medium"
    with Session(runtime.app_engine) as session:
        steps = [r.step for r in session.exec(select(AuditRecord).where(AuditRecord.workflow_id == event.workflow_id).order_by(AuditRecord.seq))]
    assert steps[:4] == ["received", "context", "proposal", "policy"]
    assert steps[-1] == "finished"
    assert steps.count("write") == 3
