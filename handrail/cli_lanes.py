"""``handrail lanes``: rollout mode, pause and resume per lane."""

import typer
from sqlalchemy.engine import Engine

from contracts import RolloutMode
from handrail import db
from handrail.cli_common import fail, load_settings, run, table
from handrail.lanes_admin import list_lanes, set_mode, set_paused, wake_paused_runs
from handrail.runs import reviewer_role
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from workflows.catalog import LANE_WORKFLOWS, lane_spec

app = typer.Typer(help="Lane rollout modes, pause and resume.", no_args_is_help=True)


def _engine(settings: Settings) -> Engine:
    engine = db.make_engine(settings.app_database_url)
    db.create_schema(engine)
    return engine


def _check_lane(lane: str) -> None:
    if lane not in LANE_WORKFLOWS:
        fail(f"unknown lane {lane!r}; known lanes: {', '.join(sorted(LANE_WORKFLOWS))}")


def _check_operator(settings: Settings, lane: str, actor: str) -> None:
    """Allow only people who may review the lane to change its mode or pause it."""
    try:
        role = reviewer_role(settings, actor)
    except PermissionError as err:
        fail(str(err))
    roles = lane_spec(lane).reviewer_roles
    if role not in roles:
        fail(
            f"{actor} has role {role}; changing lane {lane} needs one of its reviewer roles: "
            f"{', '.join(roles)}"
        )


@app.command("list")
def lanes_list() -> None:
    """List lanes with their mode, pause state and shadow agreement rate."""
    settings = load_settings()
    rows = []
    for lane in list_lanes(_engine(settings), settings):
        paused = (
            f"paused by {lane.paused_by} at {lane.paused_at:%Y-%m-%d %H:%M}"
            if (lane.paused and lane.paused_at)
            else "running"
        )
        rate = lane.agreement_rate
        agreement = (
            f"{rate:.0%} of {lane.shadow_reviews}" if rate is not None else "no shadow reviews"
        )
        source = lane.mode_source + (f" by {lane.mode_changed_by}" if lane.mode_changed_by else "")
        rows.append([lane.lane, lane.mode.value, source, paused, agreement])
    typer.echo(table(["LANE", "MODE", "MODE SET BY", "STATE", "SHADOW AGREEMENT"], rows))


@app.command("set-mode")
def lanes_set_mode(
    lane: str = typer.Argument(..., help="Lane name."),
    mode: RolloutMode = typer.Argument(..., help="shadow, draft, assisted or autonomous."),
    actor: str = typer.Option(..., "--as", help="Operator e-mail from the reviewer directory."),
) -> None:
    """Set the rollout mode for the lane's new runs; running runs keep theirs."""
    settings = load_settings()
    _check_lane(lane)
    _check_operator(settings, lane, actor)
    previous = set_mode(_engine(settings), lane, mode, actor)
    was = f" (was {previous.value})" if previous else ""
    typer.echo(f"Lane {lane} is now in {mode.value} mode for new runs{was}.")


@app.command("pause")
def lanes_pause(
    lane: str = typer.Argument(..., help="Lane name."),
    actor: str = typer.Option(..., "--as", help="Operator e-mail from the reviewer directory."),
) -> None:
    """Pause a lane: events are still accepted, but no agent step or write starts."""
    settings = load_settings()
    _check_lane(lane)
    _check_operator(settings, lane, actor)
    changed = set_paused(_engine(settings), lane, True, actor)
    typer.echo(f"Lane {lane} {'paused' if changed else 'was already paused'}.")


@app.command("resume")
def lanes_resume(
    lane: str = typer.Argument(..., help="Lane name."),
    actor: str = typer.Option(..., "--as", help="Operator e-mail from the reviewer directory."),
) -> None:
    """Resume a paused lane and wake the runs it held."""
    settings = load_settings()
    _check_lane(lane)
    _check_operator(settings, lane, actor)
    changed = set_paused(_engine(settings), lane, False, actor)
    typer.echo(f"Lane {lane} {'resumed' if changed else 'was not paused'}.")
    run(_wake(settings, lane, actor))


async def _wake(settings: Settings, lane: str, actor: str) -> None:
    try:
        client = await connect(settings)
    except TemporalUnavailable:
        typer.echo("Temporal is not reachable; held runs notice the resume within 5 minutes.")
        return
    woken = await wake_paused_runs(client, lane, actor)
    typer.echo(f"Woke {woken} held run(s).")
