"""The lane with the app database and the sandbox both on PostgreSQL."""

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from adapters.base import Filter
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import create_schema, make_engine
from adapters.sandbox.seed import seed_sandbox
from contracts import ReviewOutcome, RunStatus
from gateway.submit import submit_event
from handrail.db import AuditRecord, EventReceipt, WriteLedger, aware
from handrail.runs import decide
from handrail.settings import Settings
from handrail.worker import Runtime, build_runtime
from tests.helpers import (
    make_settings,
    renewal_event,
    renewal_opportunity,
    running_worker,
    today,
    wait_for_status,
)
from tests.pg import throwaway_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(tmp_path, temporal_address: str) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    with (
        throwaway_database("handrail_app") as app_url,
        throwaway_database("handrail_sbx") as sbx_url,
    ):
        yield make_settings(tmp_path, temporal_address, database_url=app_url, sandbox_url=sbx_url)


@pytest.fixture
def pg_runtime(pg_settings: Settings) -> Iterator[Runtime]:
    engine = make_engine(pg_settings.sandbox_database_url)
    create_schema(engine)
    seed_sandbox(engine, anchor=today())
    runtime = build_runtime(pg_settings, {"sandbox": SandboxAdapter(engine)})
    yield runtime
    runtime.app_engine.dispose()
    engine.dispose()


async def test_review_flow_on_postgres(
    client: Client, pg_settings: Settings, pg_runtime: Runtime
) -> None:
    opp = renewal_opportunity(pg_runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, pg_runtime):
        submitted = await submit_event(client, pg_runtime.app_engine, pg_settings, event)
        duplicate = await submit_event(client, pg_runtime.app_engine, pg_settings, event)
        handle = client.get_workflow_handle(event.workflow_id)
        await wait_for_status(handle, "needs_review")
        await decide(
            client,
            pg_settings,
            event.workflow_id,
            outcome=ReviewOutcome.APPROVE,
            reviewer_id="revops@example.com",
        )
        state = await wait_for_status(handle, "written", "failed")
    assert not submitted.duplicate
    assert duplicate.duplicate
    assert state.status == RunStatus.WRITTEN
    sandbox = pg_runtime.systems["sandbox"]
    tasks = sandbox.query("task", fields=["due_date"], where=[Filter("what_id", "eq", opp)])
    assert len(tasks) == 1
    with Session(pg_runtime.app_engine) as session:
        receipt = session.get(EventReceipt, event.workflow_id)
        ledger = session.exec(
            select(WriteLedger).where(WriteLedger.workflow_id == event.workflow_id)
        ).all()
        audit = session.exec(
            select(AuditRecord).where(AuditRecord.workflow_id == event.workflow_id)
        ).all()
    assert receipt is not None
    assert receipt.duplicates == 1
    assert aware(receipt.first_received_at).tzinfo is not None
    assert sorted(row.status for row in ledger) == ["applied", "applied", "applied"]
    assert {row.step for row in audit} >= {"received", "policy", "review", "write", "finished"}
    assert all(row.payload_sha256 is None or len(row.payload_sha256) == 64 for row in audit)
