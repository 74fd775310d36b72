"""``handrail runs`` and ``handrail review``: read runs and decide the ones waiting for review."""

import asyncio
import json
from datetime import timedelta

import typer
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from contracts import LaneResult, ReviewOutcome, RunState, RunStatus
from handrail.cli_common import fail, load_settings, run, table
from handrail.runs import (
    REVIEW_QUEUE,
    DecisionRejected,
    RunNotFound,
    UnknownReviewer,
    decide,
    get_state,
    list_runs,
    run_subject,
)
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from workflows import search_attributes as sa

runs_app = typer.Typer(help="List and inspect lane runs.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: runs waiting for a person.", no_args_is_help=True)


async def _client(settings: Settings) -> Client:
    try:
        return await connect(settings)
    except TemporalUnavailable as err:
        fail(str(err))


@runs_app.command("list")
def runs_list(
    lane: str | None = typer.Option(None, help="Only runs of this lane."),
    status: RunStatus | None = typer.Option(None, help="Only runs in this status."),
    limit: int = typer.Option(100, min=1, max=1000, help="Maximum number of runs to list."),
) -> None:
    """List lane runs from Temporal visibility."""
    settings = load_settings()
    conditions = [f"{sa.LANE.name} = '{lane}'" if lane else f"{sa.LANE.name} IS NOT NULL"]
    if status:
        conditions.append(f"{sa.STATUS.name} = '{status.value}'")
    run(_print_runs(settings, " AND ".join(conditions), limit))


async def _print_runs(settings: Settings, query: str, limit: int) -> None:
    client = await _client(settings)
    runs = await list_runs(client, query, limit=limit)
    if not runs:
        typer.echo("No runs.")
        return
    rows = [[r.workflow_id, r.account_id, r.risk_level, r.status, r.reason] for r in runs]
    typer.echo(table(["RUN", "ACCOUNT", "RISK", "STATUS", "REASON"], rows))


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., metavar="RUN", help="Workflow id of the run."),
    as_json: bool = typer.Option(False, "--json", help="Print the full state as JSON."),
) -> None:
    """Show one run: context sources, proposal, policy decisions, review and writes."""
    settings = load_settings()
    run(_show(settings, run_id, as_json))


async def _show(settings: Settings, run_id: str, as_json: bool) -> None:
    client = await _client(settings)
    try:
        state = await get_state(client, run_id)
    except RunNotFound as err:
        fail(str(err))
    except RPCError:
        # Queries need a worker; a closed run still has its result in history.
        await _show_from_history(client, run_id)
        return
    if as_json:
        typer.echo(state.model_dump_json(indent=2))
        return
    typer.echo(describe_state(state))


async def _show_from_history(client: Client, run_id: str) -> None:
    handle = client.get_workflow_handle(run_id, result_type=LaneResult)
    description = await handle.describe()
    if description.status == WorkflowExecutionStatus.RUNNING:
        fail(f"run {run_id} is running but no worker answered; start one with `handrail worker`")
    result = await handle.result()
    typer.echo(f"Run {run_id} (no worker running; showing the result from history)")
    typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))


def describe_state(state: RunState) -> str:
    lines = [
        f"Run:      {state.workflow_id}",
        f"Lane:     {state.lane} ({state.mode.value} mode)",
        f"Status:   {state.status.value} / {state.reason.value}",
    ]
    if state.message:
        lines.append(f"Message:  {state.message}")
    if state.review_deadline and state.status == RunStatus.NEEDS_REVIEW:
        lines.append(
            f"Review by {state.review_deadline:%Y-%m-%d %H:%M} UTC"
            + (" (escalated)" if state.escalated else "")
        )
    if state.context:
        lines += [
            "",
            f"Context ({len(state.context.fields)} fields, fetched "
            f"{state.context.fetched_at:%Y-%m-%d %H:%M} UTC)",
        ]
        for name, entry in state.context.fields.items():
            source = entry.sources[0]
            origin = f"{source.system}.{source.object}/{source.id}.{source.field}"
            more = f" +{len(entry.sources) - 1}" if len(entry.sources) > 1 else ""
            lines.append(
                f"  {name:<26} {_shorten(_describe_value(entry.value), 50):<50} {origin}{more}"
            )
        if state.context.missing:
            lines.append(f"  missing: {', '.join(state.context.missing)}")
    if state.proposal:
        p = state.proposal
        lines += [
            "",
            f"Proposal v{state.proposal_version} by {p.reasoner}, confidence {p.confidence:.2f}",
        ]
        lines.append(f"  {p.summary}")
        for item in p.evidence:
            lines.append(f"  evidence [{item.field}] {item.observation}")
        if p.untrusted_inputs:
            lines.append(f"  untrusted text in: {', '.join(p.untrusted_inputs)}")
    if state.policy:
        lines += ["", f"Policy {state.policy.policy_version}"]
        actions = {a.action_id: a for a in state.proposal.actions} if state.proposal else {}
        for decision in state.policy.actions:
            action = actions.get(decision.action_id)
            target = (
                f"{action.operation.value} {action.target_system}.{action.target_object}"
                if action
                else ""
            )
            lines.append(f"  {decision.action_id:<8} {decision.verdict.value:<7} {target}")
            if action:
                for name, value in action.fields.items():
                    lines.append(f"           {name} = {_shorten(_describe_value(value), 120)}")
            for hit in decision.hits:
                lines.append(f"           - {hit.rule_id}: {hit.reason}")
    for review in state.decisions:
        reviewer = f"{review.reviewer_id} ({review.reviewer_role})"
        note = f": {review.note}" if review.note else ""
        lines.append(f"\nReview: {review.outcome.value} by {reviewer}{note}")
    if state.writes:
        lines.append("\nWrites")
        for write in state.writes:
            outcome = (
                "applied"
                if write.applied
                else f"failed ({write.error.kind.value}: {write.error.message})"
                if write.error
                else "not applied"
            )
            lines.append(
                f"  {write.action_id:<8} {outcome} {write.target_record_id or ''}".rstrip()
            )
    return "\n".join(lines)


def _describe_value(value: object) -> str:
    rows = getattr(value, "rows", None)
    if rows is not None:
        return f"{len(rows)} record(s)"
    raw = getattr(value, "value", None)
    return repr(raw) if isinstance(raw, str) else str(raw)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@review_app.command("list")
def review_list() -> None:
    """List runs waiting for a reviewer (visibility query HandrailStatus='needs_review')."""
    settings = load_settings()
    run(_review_list(settings))


async def _review_list(settings: Settings) -> None:
    client = await _client(settings)
    runs = await list_runs(client, REVIEW_QUEUE)
    if not runs:
        typer.echo("The review queue is empty.")
        return
    rows = []
    for summary in runs:
        try:
            state = await get_state(client, summary.workflow_id, rpc_timeout=timedelta(seconds=5))
        except (RPCError, RunNotFound):
            rows.append(
                [
                    summary.workflow_id,
                    summary.account_id,
                    summary.risk_level,
                    "?",
                    "(no worker answered)",
                ]
            )
            continue
        rules = sorted(
            {
                hit.rule_id
                for d in (state.policy.actions if state.policy else [])
                for hit in d.hits
                if hit.verdict.value == "review"
            }
        )
        assessment = summary.risk_level or (
            state.proposal.classification or "" if state.proposal else ""
        )
        why = ", ".join(rules) or state.reason.value
        rows.append(
            [
                summary.workflow_id,
                run_subject(state)[:28],
                assessment,
                ",".join(state.pending_action_ids) or "-",
                why,
            ]
        )
    typer.echo(table(["RUN", "SUBJECT", "ASSESSMENT", "PENDING", "WHY REVIEW"], rows))
    typer.echo("\nInspect:  handrail runs show RUN")
    typer.echo("Approve:  handrail review approve RUN --as EMAIL [--note TEXT]")
    typer.echo("Reject:   handrail review reject RUN --as EMAIL [--note TEXT]")


@review_app.command("approve")
def review_approve(
    run_id: str = typer.Argument(..., metavar="RUN", help="Workflow id of the run."),
    reviewer: str = typer.Option(..., "--as", help="Reviewer e-mail from the reviewer directory."),
    note: str = typer.Option("", "--note", help="Why you approve; kept in the audit trail."),
    action: list[str] = typer.Option(
        [], "--action", help="Approve only this action id (repeatable); the others are dropped."
    ),
) -> None:
    """Approve a run's pending actions; the run then writes them."""
    settings = load_settings()
    run(_decide(settings, run_id, ReviewOutcome.APPROVE, reviewer, note, action))


@review_app.command("reject")
def review_reject(
    run_id: str = typer.Argument(..., metavar="RUN", help="Workflow id of the run."),
    reviewer: str = typer.Option(..., "--as", help="Reviewer e-mail from the reviewer directory."),
    note: str = typer.Option("", "--note", help="Why you reject; kept in the audit trail."),
) -> None:
    """Reject a run's proposal; nothing is written."""
    settings = load_settings()
    run(_decide(settings, run_id, ReviewOutcome.REJECT, reviewer, note, []))


async def _decide(
    settings: Settings,
    run_id: str,
    outcome: ReviewOutcome,
    reviewer: str,
    note: str,
    actions: list[str],
) -> None:
    client = await _client(settings)
    try:
        receipt = await decide(
            client,
            settings,
            run_id,
            outcome=outcome,
            reviewer_id=reviewer,
            note=note,
            action_ids=actions or None,
        )
    except (RunNotFound, UnknownReviewer, DecisionRejected) as err:
        fail(str(err))
    typer.echo(f"{receipt.message} for {run_id} (proposal v{receipt.proposal_version}).")
    handle = client.get_workflow_handle(run_id, result_type=LaneResult)
    try:
        result = await asyncio.wait_for(handle.result(), timeout=60)
    except TimeoutError:
        typer.echo("The run has not finished yet; check it with `handrail runs show RUN`.")
        return
    typer.echo(f"Run ended {result.status.value} / {result.reason.value}.")
    if result.message:
        typer.echo(f"  {result.message}")
    for write in result.writes:
        outcome_text = (
            "applied"
            if write.applied
            else f"not applied ({write.error.message if write.error else ''})"
        )
        typer.echo(f"  {write.action_id}: {outcome_text} {write.target_record_id or ''}".rstrip())
    if result.status == RunStatus.FAILED:
        raise typer.Exit(1)
