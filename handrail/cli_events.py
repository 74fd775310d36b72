"""``handrail events``: submit events by hand, through the same path as webhooks and scans."""

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from pydantic import ValidationError

from contracts import EventEnvelope
from gateway.submit import InvalidEvent, submit_event
from handrail import db
from handrail.cli_common import fail, format_validation_error, load_settings, run
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect

app = typer.Typer(help="Submit business events.", no_args_is_help=True)


@app.command("submit")
def submit(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON file: one event or a list."
    ),
) -> None:
    """Validate and submit events; a duplicate delivery is acknowledged and counted."""
    settings = load_settings()
    try:
        text = file.read_text()
    except OSError as err:
        fail(f"could not read {file}: {err}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        fail(
            f"{file} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
            "it must hold one event object or a list of them, see examples/renewal_event.json"
        )
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        fail(f"{file} holds an empty list; it must hold one event object or a list of them")
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            fail(f"{file}: item {index} is not a JSON object")
        # The receiver stamps received_at when the sender did not.
        item.setdefault("received_at", datetime.now(UTC).isoformat())
        try:
            events.append(EventEnvelope.model_validate(item))
        except ValidationError as err:
            fail(f"{file}: event {index} is invalid: {format_validation_error(err)}")
    run(_submit(settings, events))


async def _submit(settings: Settings, events: list[EventEnvelope]) -> None:
    try:
        client = await connect(settings)
    except TemporalUnavailable as err:
        fail(str(err))
    engine = db.make_engine(settings.app_database_url)
    db.create_schema(engine)
    for event in events:
        try:
            result = await submit_event(client, engine, settings, event)
        except InvalidEvent as err:
            fail(f"event {event.event_id}: {err}")
        except TemporalUnavailable as err:
            fail(f"event {event.event_id} was not accepted, retry later: {err}", code=3)
        if result.duplicate:
            typer.echo(
                f"duplicate  {result.workflow_id} (delivery {result.deliveries}; not run again)"
            )
        else:
            typer.echo(f"started    {result.workflow_id}")
