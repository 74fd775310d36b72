"""``handrail sandbox``: fill and inspect the embedded system of record."""

from datetime import UTC, date, datetime
from pathlib import Path

import typer

from adapters.base import Filter
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.csv_import import import_crm_csv
from adapters.sandbox.db import create_schema, is_empty, make_engine
from adapters.sandbox.seed import seed_sandbox
from handrail.cli_common import fail, load_settings, run, table
from handrail.runs import end_runs_on_system
from handrail.temporal_client import TemporalUnavailable, connect

app = typer.Typer(help="The embedded sandbox CRM and ERP.", no_args_is_help=True)


def _anchor(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"invalid --anchor {value!r}: use YYYY-MM-DD")


def _end_open_runs() -> None:
    """Cancel runs on the data about to be replaced, when Temporal is reachable."""
    settings = load_settings()

    async def end() -> int:
        client = await connect(settings)
        return await end_runs_on_system(client, "sandbox")

    try:
        ended = run(end())
    except TemporalUnavailable:
        typer.echo("Temporal is not reachable; open runs on the old data were left as they are.")
        return
    if ended:
        typer.echo(f"Cancelled {ended} open run(s) on the data being replaced.")


@app.command("seed")
def seed(
    reset: bool = typer.Option(False, "--reset", help="Delete all sandbox data first."),
    anchor: str | None = typer.Option(
        None, help="Date the book is built around (YYYY-MM-DD); defaults to today."
    ),
) -> None:
    """Fill the sandbox with the generated demo book of business."""
    settings = load_settings()
    engine = make_engine(settings.sandbox_database_url)
    create_schema(engine)
    if not reset and not is_empty(engine):
        fail("the sandbox already has data; pass --reset to replace it")
    if reset:
        _end_open_runs()
    summary = seed_sandbox(engine, anchor=_anchor(anchor), replace=reset)
    counts = ", ".join(f"{n} {name}" for name, n in sorted(summary.counts.items()))
    typer.echo(f"Seeded (seed {summary.seed}, anchor {summary.anchor}): {counts}")


@app.command("import-crm-csv")
def import_csv(
    folder: Path = typer.Argument(
        ..., metavar="DIR", exists=True, file_okay=False, help="CRM export folder."
    ),
    anchor: str | None = typer.Option(
        None, help="Date renewals are shifted around (YYYY-MM-DD); defaults to today."
    ),
    replace: bool = typer.Option(False, "--replace", help="Delete existing sandbox data first."),
    details: bool = typer.Option(False, "--details", help="List every rejected or repaired row."),
) -> None:
    """Load a CRM export (accounts, sales agents, products, opportunities) into the sandbox."""
    settings = load_settings()
    engine = make_engine(settings.sandbox_database_url)
    create_schema(engine)
    if not replace and not is_empty(engine):
        fail("the sandbox already has data; pass --replace to delete it and import the export")
    if replace:
        _end_open_runs()
    try:
        report = import_crm_csv(engine, folder, anchor=_anchor(anchor), replace=replace)
    except (OSError, ValueError) as err:
        fail(f"could not import {folder}: {err}")
    typer.echo(report.format_text(limit=None) if details else report.format_text())


@app.command("writes")
def writes(
    record: str | None = typer.Option(
        None, "--record", help="Only tasks and notes on this record id."
    ),
) -> None:
    """List the tasks and notes in the sandbox, newest last."""
    settings = load_settings()
    adapter = SandboxAdapter(make_engine(settings.sandbox_database_url))
    task_filter = [Filter("what_id", "eq", record)] if record else []
    note_filter = [Filter("parent_id", "eq", record)] if record else []
    tasks = adapter.query(
        "task",
        fields=["what_id", "owner_id", "subject", "due_date", "created_by"],
        where=task_filter,
        order_by="created_at",
        limit=1000,
    )
    notes = adapter.query(
        "note",
        fields=["parent_id", "title", "created_by"],
        where=note_filter,
        order_by="created_at",
        limit=1000,
    )
    typer.echo(f"Tasks ({len(tasks)})")
    if tasks:
        typer.echo(
            table(
                ["ID", "ON", "OWNER", "DUE", "SUBJECT", "BY"],
                [
                    [
                        str(t["id"]),
                        str(t["what_id"]),
                        str(t["owner_id"] or ""),
                        str(t["due_date"]),
                        str(t["subject"])[:50],
                        str(t["created_by"]),
                    ]
                    for t in tasks
                ],
            )
        )
    typer.echo(f"\nNotes ({len(notes)})")
    if notes:
        typer.echo(
            table(
                ["ID", "ON", "TITLE", "BY"],
                [
                    [str(n["id"]), str(n["parent_id"]), str(n["title"])[:50], str(n["created_by"])]
                    for n in notes
                ],
            )
        )
