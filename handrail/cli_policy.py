"""``handrail policy``: check, test and explain lane policies."""

from pathlib import Path

import typer
from temporalio.service import RPCError

from handrail.cli_common import fail, load_settings, run
from handrail.runs import RunNotFound, get_state
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from policies.cases import CasesFileError, load_cases, run_cases
from policies.engine import load_policy
from policies.schema import PolicyFileError

app = typer.Typer(help="Check, test and explain lane policies.", no_args_is_help=True)


@app.command("check")
def policy_check(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Lane policy file (YAML)."),
) -> None:
    """Validate a policy file and the file it extends; print its version."""
    try:
        policy = load_policy(file)
    except PolicyFileError as err:
        fail(str(err))
    held = set(load_settings().reviewers.values())
    named = set(policy.reviewer_roles) | {r for rule in policy.rules for r in rule.spec.roles}
    for role in sorted(named - held):
        typer.echo(
            f"warning: no reviewer in the directory has role {role!r}; reviews that need it "
            "cannot be approved (set HANDRAIL_REVIEWERS)",
            err=True,
        )
    typer.echo(
        f"{file}: valid. Lane {policy.lane}, version {policy.version()}, "
        f"{len(policy.targets)} writable target(s), {len(policy.protected)} protected, "
        f"{len(policy.rules)} rule(s)."
    )


@app.command("test")
def policy_test(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Lane policy file (YAML)."),
    cases: Path = typer.Argument(..., exists=True, dir_okay=False, help="Cases file (YAML)."),
) -> None:
    """Run table-driven cases (proposal and context in, expected decision out) against a policy."""
    try:
        policy = load_policy(file)
        loaded = load_cases(cases)
    except (PolicyFileError, CasesFileError) as err:
        fail(str(err))
    results = run_cases(policy, loaded)
    for result in results:
        typer.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
        for problem in result.problems:
            typer.echo(f"      {problem}")
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed (policy {policy.version()})")
    if failed:
        raise typer.Exit(1)


@app.command("explain")
def policy_explain(
    run_id: str = typer.Argument(..., metavar="RUN", help="Workflow id of the run."),
) -> None:
    """Show why each of a run's actions was allowed, sent to review or blocked."""
    settings = load_settings()
    run(_explain(run_id, settings))


async def _explain(run_id: str, settings: Settings) -> None:
    try:
        client = await connect(settings)
        state = await get_state(client, run_id)
    except (TemporalUnavailable, RunNotFound) as err:
        fail(str(err))
    except RPCError as err:
        fail(f"no worker answered the query for {run_id} ({err.message}); start `handrail worker`")
    if state.policy is None:
        fail(f"run {run_id} has no policy decision yet (status {state.status.value})")
    policy = state.policy
    if not policy.actions:
        typer.echo(f"Run {run_id}: the agent proposed no actions, so policy decided nothing.")
        return
    evaluated = f"{policy.evaluated_at:%Y-%m-%d %H:%M} UTC"
    typer.echo(f"Run {run_id}: policy {policy.policy_version}, evaluated {evaluated}")
    actions = {a.action_id: a for a in state.proposal.actions} if state.proposal else {}
    for decision in policy.actions:
        action = actions.get(decision.action_id)
        target = (
            f"{action.operation.value} {action.target_system}.{action.target_object}"
            if action
            else ""
        )
        typer.echo(f"\n{decision.action_id}: {decision.verdict.value.upper()}  {target}")
        for hit in decision.hits:
            typer.echo(f"  {hit.verdict.value:<6} {hit.rule_id}: {hit.reason}")
        if decision.verdict.value == "review":
            because = f" (rule {decision.roles_rule})" if decision.roles_rule else ""
            typer.echo(f"  reviewers: {', '.join(decision.reviewer_roles)}{because}")
    if policy.run_hits:
        typer.echo("\nRun-level triggers: " + ", ".join(hit.rule_id for hit in policy.run_hits))
    typer.echo("\nblock beats review beats allow; every rule that fired is listed in order.")
