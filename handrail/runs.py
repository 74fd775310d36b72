"""Reading runs and sending review decisions: the operations behind the CLI and review UI."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from contracts import (
    ProposedAction,
    ReviewDecision,
    ReviewOutcome,
    ReviewReceipt,
    RunState,
    RunStatus,
)
from handrail.settings import Settings
from workflows import search_attributes as sa
from workflows.lane import LaneWorkflow

SETTLED = {RunStatus.NEEDS_REVIEW, RunStatus.WRITTEN, RunStatus.SKIPPED, RunStatus.FAILED}
# A terminated run keeps its last search attributes, so the queue also
# requires the execution to be running.
REVIEW_QUEUE = (
    f"{sa.STATUS.name} = '{RunStatus.NEEDS_REVIEW.value}' AND ExecutionStatus = 'Running'"
)


class RunNotFound(LookupError):
    """No workflow with that id exists in the namespace."""


class DecisionRejected(ValueError):
    """The run did not accept the decision; nothing was recorded or written."""


class UnknownReviewer(PermissionError):
    """The reviewer is not in the reviewer directory."""


@dataclass(frozen=True)
class RunSummary:
    workflow_id: str
    lane: str
    status: str
    reason: str
    risk_level: str
    account_id: str
    started_at: datetime | None


async def list_runs(client: Client, query: str, *, limit: int = 200) -> list[RunSummary]:
    """List lane runs matching a visibility query, newest first as the server returns them."""
    runs: list[RunSummary] = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        runs.append(
            RunSummary(
                workflow_id=execution.id,
                lane=attributes.get(sa.LANE) or "",
                status=attributes.get(sa.STATUS) or "",
                reason=attributes.get(sa.STATUS_REASON) or "",
                risk_level=attributes.get(sa.RISK_LEVEL) or "",
                account_id=attributes.get(sa.ACCOUNT_ID) or "",
                started_at=execution.start_time,
            )
        )
    return runs


async def get_state(
    client: Client, workflow_id: str, *, rpc_timeout: timedelta = timedelta(seconds=10)
) -> RunState:
    """Query a run's state; a query needs a running worker.

    Raises:
        RunNotFound: no workflow with that id.
        RPCError: the query timed out after ``rpc_timeout`` (no worker), among others.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(LaneWorkflow.state, rpc_timeout=rpc_timeout)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFound(
                f"no run with id {workflow_id!r}; list runs with `handrail runs list`"
            ) from err
        raise


def reviewer_role(settings: Settings, reviewer_id: str) -> str:
    """Look up a reviewer's role in the directory, raising UnknownReviewer if absent."""
    directory = {email.lower(): role for email, role in settings.reviewers.items()}
    role = directory.get(reviewer_id.strip().lower())
    if role is None:
        known = ", ".join(sorted(settings.reviewers))
        raise UnknownReviewer(
            f"{reviewer_id!r} is not a known reviewer; known reviewers: {known} "
            "(set HANDRAIL_REVIEWERS to change the directory)"
        )
    return role


async def decide(
    client: Client,
    settings: Settings,
    workflow_id: str,
    *,
    outcome: ReviewOutcome,
    reviewer_id: str,
    note: str = "",
    action_ids: list[str] | None = None,
    edited_actions: list[ProposedAction] | None = None,
    proposal_version: int | None = None,
) -> ReviewReceipt:
    """Send a decision to a run waiting for review.

    Args:
        action_ids: the pending actions the decision covers. Defaults to all pending actions.
        proposal_version: the version the reviewer looked at. Defaults to the current one.

    Raises:
        RunNotFound, UnknownReviewer, DecisionRejected.
    """
    role = reviewer_role(settings, reviewer_id)
    # Directory look-ups ignore case, so the recorded id does too.
    reviewer_id = reviewer_id.strip().lower()
    state = await get_state(client, workflow_id)
    if state.status != RunStatus.NEEDS_REVIEW:
        raise DecisionRejected(
            f"run {workflow_id} is not awaiting review (status {state.status.value}, "
            f"reason {state.reason.value})"
        )
    decision = ReviewDecision(
        outcome=outcome,
        proposal_version=proposal_version or state.proposal_version,
        action_ids=action_ids or state.pending_action_ids,
        edited_actions=edited_actions or [],
        reviewer_id=reviewer_id,
        reviewer_role=role,
        note=note,
        decided_at=datetime.now(UTC),
    )
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(LaneWorkflow.decide, decision)
    except RPCError as err:
        raise DecisionRejected(
            f"run {workflow_id} did not accept the decision: {err.message}"
        ) from err
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise DecisionRejected(f"run {workflow_id} rejected the decision: {message}") from err


async def wait_settled(
    client: Client, workflow_ids: list[str], *, timeout_seconds: float = 180.0
) -> dict[str, RunState]:
    """Poll runs until each one waits for review or has ended, or the timeout passes."""
    states: dict[str, RunState] = {}
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    pending = list(workflow_ids)
    while pending and asyncio.get_running_loop().time() < deadline:
        still: list[str] = []
        for workflow_id in pending:
            try:
                state = await get_state(client, workflow_id)
            except RPCError:
                still.append(workflow_id)
                continue
            states[workflow_id] = state
            if state.status not in SETTLED:
                still.append(workflow_id)
        pending = still
        if pending:
            await asyncio.sleep(0.5)
    return states


async def end_runs_on_system(client: Client, source_system: str) -> int:
    """Cancel every running lane run fed by ``source_system``; return how many ended.

        Used when a sandbox is replaced: its runs point at records that no longer exist.
    Each run closes as skipped / cancelled.
    """
    query = f"{sa.SOURCE_SYSTEM.name} = '{source_system}' AND ExecutionStatus = 'Running'"
    ended = 0
    async for execution in client.list_workflows(query):
        # Cancelling lets the run close with a visible status; a terminated
        # run would keep showing its last status, such as needs_review.
        await client.get_workflow_handle(execution.id, run_id=execution.run_id).cancel()
        ended += 1
    return ended


def run_subject(state: RunState) -> str:
    """Name the record a run is about: the account, or the vendor and invoice number."""
    fields = state.context.fields if state.context else {}

    def text(name: str) -> str:
        entry = fields.get(name)
        return str(getattr(entry.value, "value", "") or "") if entry else ""

    if text("vendor_name"):
        return f"{text('vendor_invoice_number')} {text('vendor_name')}"
    return text("account_name") or state.event.account_id or state.event.source_record_id
