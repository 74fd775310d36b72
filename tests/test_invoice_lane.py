"""The invoice-exception lane against a real dev server, one case per seeded exception."""

from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from activities.lanes import LaneBinding, LaneRegistry, bind
from adapters.base import Filter
from adapters.llm.offline_invoice import OfflineInvoiceReasoner
from adapters.sandbox.seed_erp_scenarios import ERP_SCENARIO_BILLS
from contracts import (
    ActionKind,
    AgentProposal,
    ContextBundle,
    EventEnvelope,
    LaneInput,
    Operation,
    ProposedAction,
    ReviewOutcome,
    RunStatus,
    ScanInput,
    StatusReason,
    TextValue,
    Verdict,
)
from gateway.submit import lane_run_settings
from handrail.runs import DecisionRejected, decide
from handrail.settings import Settings
from handrail.worker import Runtime
from tests.helpers import running_worker, wait_for_status
from workflows.invoice_exception import MATCH_EXCEPTION, SPEC, InvoiceExceptionWorkflow
from workflows.lane import LaneWorkflow
from workflows.scan import WindowScanWorkflow

AP = "ap@example.com"
FINANCE = "finance@example.com"

# exception -> (route, task owner, review needed, reviewer who may approve)
CASES = {
    "price_variance": ("procurement", "usr_011", True, AP),
    "quantity_variance": ("procurement", "usr_011", True, AP),
    "missing_receipt": ("requester", "usr_003", True, AP),
    "duplicate_invoice": ("finance", "usr_009", False, None),
    "new_vendor": ("vendor_verification", "usr_012", True, AP),
    "bank_change_request": ("vendor_verification", "usr_012", True, FINANCE),
    "tax_mismatch": ("finance", "usr_009", True, FINANCE),
    "over_threshold": ("finance", "usr_009", True, FINANCE),
    "no_po": ("requester", "usr_017", True, AP),
}


def bill_event(bill_id: str) -> EventEnvelope:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=f"evt-{bill_id}",
        event_type=MATCH_EXCEPTION,
        source_system="sandbox",
        source_record_type="vendor_bill",
        source_record_id=bill_id,
        occurred_at=now,
        received_at=now,
        workflow="invoice_exception",
        idempotency_key=f"sandbox:{bill_id}:{now.timestamp()}",
    )


async def start(client: Client, settings: Settings, bill_id: str):  # type: ignore[no-untyped-def]
    event = bill_event(bill_id)
    return await client.start_workflow(
        InvoiceExceptionWorkflow.run,
        LaneInput(event=event, settings=lane_run_settings(SPEC, settings)),
        id=event.workflow_id,
        task_queue=settings.task_queue,
    )


def writes_on(runtime: Runtime, bill_id: str) -> dict[str, list[dict]]:
    sandbox = runtime.systems["sandbox"]
    return {
        "task": sandbox.query(
            "task", fields=["owner_id", "subject"], where=[Filter("what_id", "eq", bill_id)]
        ),
        "note": sandbox.query(
            "note", fields=["title", "body"], where=[Filter("parent_id", "eq", bill_id)]
        ),
        "bill": [
            sandbox.read(
                "vendor_bill", bill_id, ["review_status", "posted", "total", "payment_hold"]
            )
        ],
    }


@pytest.mark.parametrize("exception", sorted(CASES))
async def test_exception_routed_and_written(
    client: Client, settings: Settings, runtime: Runtime, exception: str
) -> None:
    route, owner, needs_review, reviewer = CASES[exception]
    bill_id = ERP_SCENARIO_BILLS[exception]
    before = writes_on(runtime, bill_id)["bill"][0]
    async with running_worker(client, runtime):
        handle = await start(client, settings, bill_id)
        state = await wait_for_status(handle, "needs_review", "written", "skipped", "failed")
        assert state.proposal is not None
        assert state.proposal.classification == exception
        assert state.proposal.recommendation == route
        assert state.policy is not None
        verdicts = {a.action_id: a.verdict for a in state.policy.actions}
        expected = Verdict.REVIEW if needs_review else Verdict.ALLOW
        assert verdicts == {"note": expected, "task": expected, "status": expected}
        assert (state.status == RunStatus.NEEDS_REVIEW) is needs_review
        if needs_review:
            assert reviewer is not None
            await decide(
                client, settings, handle.id, outcome=ReviewOutcome.APPROVE, reviewer_id=reviewer
            )
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    written = writes_on(runtime, bill_id)
    assert [t["owner_id"] for t in written["task"]] == [owner]
    assert [n["title"] for n in written["note"]] == [f"Match exception: {exception}"]
    bill = written["bill"][0]
    assert bill["review_status"] == "routed"
    assert (bill["posted"], bill["total"], bill["payment_hold"]) == (
        before["posted"],
        before["total"],
        before["payment_hold"],
    )


async def test_matched_control_bill_skipped(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    async with running_worker(client, runtime):
        handle = await start(client, settings, ERP_SCENARIO_BILLS["control"])
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.NO_ACTION_NEEDED)
    assert writes_on(runtime, ERP_SCENARIO_BILLS["control"])["task"] == []


class MemoFollowingReasoner(OfflineInvoiceReasoner):
    """A reasoner that obeys the bill memo: it also proposes the new bank account."""

    def propose(self, event: EventEnvelope, context: ContextBundle, now: datetime) -> AgentProposal:
        proposal = super().propose(event, context, now)
        vendor_id = str(getattr(context.fields["vendor_id"].value, "value", ""))
        bank_write = ProposedAction(
            action_id="bank",
            kind=ActionKind.INTERNAL_NOTE,
            operation=Operation.UPDATE,
            target_system="sandbox",
            target_object="vendor",
            target_record_id=vendor_id,
            fields={"remit_bank_account": TextValue(value="****9999")},
        )
        return proposal.model_copy(update={"actions": [*proposal.actions, bank_write]})


def _memo_following(runtime: Runtime) -> None:
    binding = bind(SPEC)
    runtime.lanes = LaneRegistry(
        [
            LaneBinding(
                spec=SPEC,
                build_context=binding.build_context,
                reasoner=MemoFollowingReasoner(),
                scan=binding.scan,
            )
        ]
    )


async def test_bank_memo_never_writes_bank(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    _memo_following(runtime)
    bill_id = ERP_SCENARIO_BILLS["bank_change_request"]
    sandbox = runtime.systems["sandbox"]
    vendor_id = str(sandbox.read("vendor_bill", bill_id, ["vendor_id"])["vendor_id"])
    vendor_before = sandbox.read("vendor", vendor_id, ["remit_bank_account", "tax_id", "status"])
    async with running_worker(client, runtime):
        handle = await start(client, settings, bill_id)
        state = await wait_for_status(handle, "needs_review")
        assert state.policy is not None
        bank = next(a for a in state.policy.actions if a.action_id == "bank")
        assert bank.verdict == Verdict.BLOCK
        assert "invoice.vendor_master.block" in [hit.rule_id for hit in bank.hits]
        assert "bank" not in state.pending_action_ids
        # The reviewer approves everything the run offers.
        await decide(
            client, settings, handle.id, outcome=ReviewOutcome.APPROVE, reviewer_id=FINANCE
        )
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert sorted(w.action_id for w in result.writes) == ["note", "status", "task"]
    assert sandbox.read("vendor", vendor_id, ["remit_bank_account", "tax_id", "status"]) == (
        vendor_before
    )


async def test_edit_cannot_post_bill(client: Client, settings: Settings, runtime: Runtime) -> None:
    bill_id = ERP_SCENARIO_BILLS["price_variance"]
    sandbox = runtime.systems["sandbox"]
    async with running_worker(client, runtime):
        handle = await start(client, settings, bill_id)
        state = await wait_for_status(handle, "needs_review")
        assert state.proposal is not None
        status = next(a for a in state.proposal.actions if a.action_id == "status")
        edited = status.model_copy(
            update={"fields": {**status.fields, "posted": TextValue(value="true")}}
        )
        await decide(
            client,
            settings,
            handle.id,
            outcome=ReviewOutcome.EDIT,
            reviewer_id=AP,
            action_ids=state.pending_action_ids,
            edited_actions=[edited],
        )
        final = await wait_for_status(handle, "written", "failed", "skipped")
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert sorted(w.action_id for w in result.writes) == ["note", "task"]
    assert final.policy is not None
    status_decision = next(a for a in final.policy.actions if a.action_id == "status")
    assert status_decision.verdict == Verdict.BLOCK
    assert "invoice.payment_data.block" in [hit.rule_id for hit in status_decision.hits]
    bill = sandbox.read("vendor_bill", bill_id, ["posted", "review_status"])
    assert bill == {"posted": False, "review_status": None}


async def test_requester_cannot_approve_own_bill(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    bill_id = ERP_SCENARIO_BILLS["price_variance"]
    requester = "chloe.bennett@example.com"
    settings.reviewers[requester] = "ap_specialist"
    async with running_worker(client, runtime):
        handle = await start(client, settings, bill_id)
        await wait_for_status(handle, "needs_review")
        with pytest.raises(DecisionRejected, match=r"segregation of duties: chloe\.bennett"):
            await decide(
                client, settings, handle.id, outcome=ReviewOutcome.APPROVE, reviewer_id=requester
            )
        history = await handle.fetch_history()
        state = await handle.query(LaneWorkflow.state)
        await handle.terminate("test done")
    assert not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        for e in history.events
    )
    assert state.decisions == []
    assert writes_on(runtime, bill_id)["task"] == []


async def test_finance_flag_needs_finance_reviewer(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    bill_id = ERP_SCENARIO_BILLS["tax_mismatch"]
    async with running_worker(client, runtime):
        handle = await start(client, settings, bill_id)
        await wait_for_status(handle, "needs_review")
        with pytest.raises(DecisionRejected, match=r"role finance \(rule trigger\.tax_flag\)"):
            await decide(client, settings, handle.id, outcome=ReviewOutcome.APPROVE, reviewer_id=AP)
        await handle.terminate("test done")
    assert writes_on(runtime, bill_id)["task"] == []


async def test_sweep_starts_each_bill_once(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    scan = ScanInput(lane="invoice_exception")
    async with running_worker(client, runtime):
        first = await client.execute_workflow(
            WindowScanWorkflow.run,
            scan,
            id=f"sweep-1-{settings.task_queue}",
            task_queue=settings.task_queue,
        )
        second = await client.execute_workflow(
            WindowScanWorkflow.run,
            scan,
            id=f"sweep-2-{settings.task_queue}",
            task_queue=settings.task_queue,
        )
        for workflow_id in first.workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            await wait_for_status(handle, "needs_review", "written", "skipped", "failed")
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test done")
    unmatched = sorted(bill for name, bill in ERP_SCENARIO_BILLS.items() if name != "control")
    # Both copies of the duplicate invoice are unmatched, so the sweep finds one more bill.
    assert (first.found, first.started) == (len(unmatched) + 1, len(unmatched) + 1)
    assert second.started == 0
    instance = runtime.systems["sandbox"].instance
    assert all(
        w.startswith(f"invoice_exception:sandbox:{instance}:bill_") for w in first.workflow_ids
    )
