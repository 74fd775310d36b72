"""``handrail demo``: the renewal-risk lane end to end on the embedded stack."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from temporalio.client import Client

from adapters.sandbox.csv_import import import_crm_csv
from adapters.sandbox.db import create_schema, is_empty, make_engine
from adapters.sandbox.seed import seed_sandbox
from contracts import RunState, RunStatus, ScanInput, ScanResult, Verdict
from handrail import db
from handrail.cli_common import fail, table
from handrail.devserver import DevServerError, start_dev_server
from handrail.lanes_admin import list_lanes
from handrail.processes import pid_alive, start_worker_background, worker_reasoner
from handrail.runs import REVIEW_QUEUE, SETTLED, end_runs_on_system, run_subject, wait_settled
from handrail.schedules import ensure_schedules
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from workflows.catalog import LANE_WORKFLOWS
from workflows.scan import WindowScanWorkflow

# Markers in the ACTIONS column.
WRITTEN, AWAITING, BLOCKED, NOT_WRITTEN = "+", "?", "x", "-"
LEGEND = (
    f"ACTIONS: {WRITTEN} written, {AWAITING} awaiting review, {BLOCKED} blocked, "
    f"{NOT_WRITTEN} not written"
)


async def run_demo(
    settings: Settings,
    *,
    crm_csv: Path | None,
    timeout_seconds: float,
    worker_environment: dict[str, str] | None = None,
) -> None:
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
        ended = await end_runs_on_system(client, "sandbox")
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
    pid, started = start_worker_background(settings, environment=worker_environment)
    reasoner = worker_reasoner(settings)
    typer.echo(f"Worker: {'started' if started else 'reusing'} (pid {pid}, reasoner {reasoner})")
    await ensure_schedules(client, settings)

    app_engine = db.make_engine(settings.app_database_url)
    db.create_schema(app_engine)
    for lane_summary in list_lanes(app_engine, settings):
        state = f"paused by {lane_summary.paused_by}" if lane_summary.paused else "running"
        typer.echo(
            f"Lane {lane_summary.lane}: {lane_summary.mode.value} mode "
            f"({lane_summary.mode_source}), {state}"
        )
    app_engine.dispose()

    # The same scans the schedules run, once, now, for every lane that has one.
    all_states: dict[str, RunState] = {}
    for lane in LANE_WORKFLOWS.values():
        if lane.spec.scan is None:
            continue
        result = await _scan(client, settings, lane.spec.name, today)
        states = await wait_settled(client, result.workflow_ids, timeout_seconds=timeout_seconds)
        ordered = [states[i] for i in result.workflow_ids if i in states]
        typer.echo("")
        if ordered:
            typer.echo(render_runs(ordered))
        unsettled = [s for s in ordered if s.status not in SETTLED]
        missing = len(result.workflow_ids) - len(ordered)
        if unsettled or missing:
            typer.echo(
                f"{len(unsettled) + missing} run(s) still processing after {timeout_seconds:.0f} s."
            )
        typer.echo("")
        all_states.update(states)
    typer.echo(LEGEND)
    typer.echo(next_steps(settings, all_states, ui_url))


async def _scan(client: Client, settings: Settings, lane: str, today: date) -> ScanResult:
    scan_id = f"{lane}-scan:demo:{uuid.uuid4().hex[:8]}"
    try:
        result = await asyncio.wait_for(
            client.execute_workflow(
                WindowScanWorkflow.run,
                ScanInput(lane=lane, as_of=today, window_days=settings.renewal_window_days),
                id=scan_id,
                task_queue=settings.task_queue,
            ),
            timeout=120,
        )
    except TimeoutError:
        alive = pid_alive(settings, "worker") is not None
        hint = "" if alive else " The worker is not running."
        fail(
            f"the {lane} scan did not finish in 120 s.{hint} See {settings.run_dir / 'worker.log'}"
        )
    typer.echo(
        f"{lane} scan {result.as_of}: {result.found} found, "
        f"{result.started} runs started, {result.duplicates} already known"
        + (f", {result.failed} failed to submit" if result.failed else "")
    )
    return result


def render_runs(states: list[RunState]) -> str:
    """Format one lane's runs as a table: subject, assessment, route, status and actions."""
    rows = []
    for state in states:
        proposal = state.proposal
        assessment = ""
        if proposal is not None:
            assessment = proposal.risk_level.value if proposal.risk_level else ""
            assessment = assessment or (proposal.classification or "")
        rows.append(
            [
                state.workflow_id,
                run_subject(state)[:28],
                assessment,
                (proposal.recommendation or "") if proposal else "",
                state.status.value,
                state.reason.value,
                _actions(state),
            ]
        )
    headers = ["RUN", "SUBJECT", "ASSESSMENT", "ROUTE", "STATUS", "REASON", "ACTIONS"]
    if not any(row[3] for row in rows):
        headers.pop(3)
        rows = [row[:3] + row[4:] for row in rows]
    return table(headers, rows)


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
    # Per lane, suggest the waiting run with the most pending actions, so that
    # approving it shows a note and a task landing in the sandbox.
    waiting = sorted(
        (s for s in states.values() if s.status == RunStatus.NEEDS_REVIEW),
        key=lambda s: -len(s.pending_action_ids),
    )
    lines = [f"\n{len(states)} runs: {summary}", ""]
    if waiting:
        lines.append("Review queue:  handrail review list")
        lines.append(f"Inspect one:   handrail runs show {waiting[0].workflow_id}")
    shown: set[str] = set()
    for state in waiting:
        if state.lane in shown:
            continue
        shown.add(state.lane)
        reviewer = _reviewer_for(settings, state)
        lines.append(f"Approve one:   handrail review approve {state.workflow_id} --as {reviewer}")
    rejectable = [s for s in waiting if s.workflow_id not in {w.workflow_id for w in waiting[:1]}]
    if rejectable:
        other = next((s for s in rejectable if s.lane == waiting[0].lane), rejectable[0])
        lines.append(
            f"Reject one:    handrail review reject {other.workflow_id} "
            f"--as {_reviewer_for(settings, other)} [--note TEXT]"
        )
    list_command = f'temporal workflow list --address {settings.address} --query "{REVIEW_QUEUE}"'
    lines.append(f"Temporal CLI:  {list_command}")
    if ui_url:
        lines.append(f"Temporal UI:   {ui_url}")
    lines.append("Sandbox:       handrail sandbox writes")
    lines.append("Stop:          handrail stop   (the worker and Temporal keep running until then)")
    return "\n".join(lines)


def _reviewer_for(settings: Settings, state: RunState) -> str:
    """Pick a directory reviewer whose role may approve every pending action of the run."""
    allowed: set[str] | None = None
    for decision in state.policy.actions if state.policy else []:
        if decision.action_id in state.pending_action_ids and decision.reviewer_roles:
            roles = set(decision.reviewer_roles)
            allowed = roles if allowed is None else allowed & roles
    for email, role in settings.reviewers.items():
        if allowed is None or role in allowed:
            return email
    return "EMAIL"
