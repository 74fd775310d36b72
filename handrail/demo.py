"""``handrail demo``: the renewal-risk lane end to end on the embedded stack."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import typer

from adapters.sandbox.csv_import import import_crm_csv
from adapters.sandbox.db import create_schema, is_empty, make_engine
from adapters.sandbox.seed import seed_sandbox
from contracts import RunState, RunStatus, ScanInput, Verdict
from handrail.cli_common import fail, table
from handrail.devserver import DevServerError, start_dev_server
from handrail.processes import pid_alive, start_worker_background
from handrail.runs import REVIEW_QUEUE, end_runs_on_system, wait_settled
from handrail.schedules import ensure_schedules
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from workflows.scan import WindowScanWorkflow

# Markers in the ACTIONS column.
WRITTEN, AWAITING, BLOCKED, NOT_WRITTEN = "+", "?", "x", "-"


async def run_demo(settings: Settings, *, crm_csv: Path | None, timeout_seconds: float) -> None:
    """Start what is not running, fill the sandbox, scan for renewals and print the runs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()

    # Temporal: reuse a running server or start the embedded one in the background.
    ui_url = None
    if settings.embedded_temporal:
        try:
            server = await start_dev_server(settings, detach=True)
        except DevServerError as err:
            fail(str(err))
        ui_url = server.ui_url
        verb = "started" if server.process else "reusing"
        typer.echo(f"Temporal dev server: {verb} at {settings.address}")
    try:
        client = await connect(settings)
    except TemporalUnavailable as err:
        fail(str(err))

    # The sandbox system of record: generated book, or an imported CRM export.
    engine = make_engine(settings.sandbox_database_url)
    create_schema(engine)
    if crm_csv is not None:
        ended = await end_runs_on_system(
            client, "sandbox", "the sandbox was replaced by a CRM import"
        )
        if ended:
            typer.echo(f"Ended {ended} open run(s) on the sandbox data being replaced.")
        try:
            report = import_crm_csv(engine, crm_csv, anchor=today, replace=True)
        except (OSError, ValueError) as err:
            fail(f"could not import {crm_csv}: {err}")
        typer.echo(report.format_text())
    elif is_empty(engine):
        summary = seed_sandbox(engine, anchor=today)
        typer.echo(
            f"Sandbox: seeded {summary.counts.get('account', 0)} accounts "
            f"({summary.in_window_renewals} renewals in the next {settings.renewal_window_days} "
            f"days), seed {summary.seed}, anchor {summary.anchor}"
        )
    else:
        typer.echo("Sandbox: reusing existing data (`handrail sandbox seed --reset` starts over)")
    engine.dispose()

    # The worker, in the background so the review commands keep working afterwards.
    pid, started = start_worker_background(settings)
    typer.echo(f"Worker: {'started' if started else 'reusing'} (pid {pid})")
    await ensure_schedules(client, settings)

    # The same scan the daily schedule runs, once, now.
    scan_id = f"renewal_risk-scan:demo:{uuid.uuid4().hex[:8]}"
    try:
        result = await asyncio.wait_for(
            client.execute_workflow(
                WindowScanWorkflow.run,
                ScanInput(
                    lane="renewal_risk", as_of=today, window_days=settings.renewal_window_days
                ),
                id=scan_id,
                task_queue=settings.task_queue,
            ),
            timeout=120,
        )
    except TimeoutError:
        alive = pid_alive(settings, "worker") is not None
        hint = "" if alive else " The worker is not running."
        fail(
            f"the renewal scan did not finish in 120 s.{hint} See {settings.run_dir / 'worker.log'}"
        )
    typer.echo(
        f"Renewal scan {result.as_of}: {result.found} renewals in the window, "
        f"{result.started} runs started, {result.duplicates} already known"
        + (f", {result.failed} failed to submit" if result.failed else "")
    )

    states = await wait_settled(client, result.workflow_ids, timeout_seconds=timeout_seconds)
    typer.echo("")
    typer.echo(render_runs([states[i] for i in result.workflow_ids if i in states]))
    unsettled = [
        i
        for i in result.workflow_ids
        if i not in states
        or states[i].status
        not in (RunStatus.NEEDS_REVIEW, RunStatus.WRITTEN, RunStatus.SKIPPED, RunStatus.FAILED)
    ]
    if unsettled:
        typer.echo(f"\n{len(unsettled)} run(s) still processing after {timeout_seconds:.0f} s.")
    typer.echo(next_steps(settings, states, ui_url))


def render_runs(states: list[RunState]) -> str:
    rows = []
    for state in states:
        account = ""
        if state.context and "account_name" in state.context.fields:
            account = str(getattr(state.context.fields["account_name"].value, "value", "") or "")
        account = account or state.event.account_id or "(no account)"
        risk = (
            state.proposal.risk_level.value if state.proposal and state.proposal.risk_level else ""
        )
        rows.append(
            [
                state.workflow_id,
                account[:28],
                risk,
                state.status.value,
                state.reason.value,
                _actions(state),
            ]
        )
    legend = (
        f"ACTIONS: {WRITTEN} written, {AWAITING} awaiting review, {BLOCKED} blocked, "
        f"{NOT_WRITTEN} not written"
    )
    return table(["RUN", "ACCOUNT", "RISK", "STATUS", "REASON", "ACTIONS"], rows) + "\n" + legend


def _actions(state: RunState) -> str:
    if not state.proposal or not state.proposal.actions:
        return ""
    written = {w.action_id for w in state.writes if w.applied}
    pending = set(state.pending_action_ids)
    marks = []
    for action in state.proposal.actions:
        verdict = state.policy.verdict_for(action.action_id) if state.policy else None
        if action.action_id in written:
            mark = WRITTEN
        elif action.action_id in pending:
            mark = AWAITING
        elif verdict == Verdict.BLOCK:
            mark = BLOCKED
        else:
            mark = NOT_WRITTEN
        marks.append(f"{action.action_id}{mark}")
    return " ".join(marks)


def next_steps(settings: Settings, states: dict[str, RunState], ui_url: str | None) -> str:
    counts = Counter(state.status.value for state in states.values())
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    # Suggest the waiting run with the most pending actions, so approving it
    # shows a note and a task landing in the sandbox.
    waiting = [
        s.workflow_id
        for s in sorted(states.values(), key=lambda s: -len(s.pending_action_ids))
        if s.status == RunStatus.NEEDS_REVIEW
    ]
    revops = [email for email, role in sorted(settings.reviewers.items()) if role == "revops"]
    reviewer = revops[0] if revops else "EMAIL"
    lines = [f"\n{len(states)} runs: {summary}", ""]
    if waiting:
        lines += [
            "Review queue:  handrail review list",
            f"Inspect one:   handrail runs show {waiting[0]}",
            f"Approve it:    handrail review approve {waiting[0]} --as {reviewer}",
        ]
        if len(waiting) > 1:
            lines.append(
                f"Reject one:    handrail review reject {waiting[1]} --as {reviewer} [--note TEXT]"
            )
    list_command = f'temporal workflow list --address {settings.address} --query "{REVIEW_QUEUE}"'
    lines.append(f"Temporal CLI:  {list_command}")
    if ui_url:
        lines.append(f"Temporal UI:   {ui_url}")
    lines.append("Sandbox:       handrail sandbox writes")
    lines.append("Stop:          handrail stop   (the worker and Temporal keep running until then)")
    return "\n".join(lines)
