"""The ``handrail`` command line."""

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from temporalio.service import RPCError

from adapters.sandbox.db import create_schema, is_empty, make_engine
from adapters.sandbox.seed import seed_sandbox
from handrail import cli_events, cli_lanes, cli_policy, cli_runs, cli_sandbox
from handrail.cli_common import fail, load_settings, run, setup_logging
from handrail.demo import run_demo
from handrail.devserver import DevServerError, ensure_search_attributes, start_dev_server
from handrail.processes import stop_all
from handrail.schedules import ensure_schedules
from handrail.settings import Settings
from handrail.temporal_client import TemporalUnavailable, connect
from handrail.worker import build_runtime, run_worker

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Handrail: durable, policy-checked AI-agent lanes for CRM and ERP systems of record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_runs.runs_app, name="runs")
app.add_typer(cli_runs.review_app, name="review")
app.add_typer(cli_sandbox.app, name="sandbox")
app.add_typer(cli_events.app, name="events")
app.add_typer(cli_policy.app, name="policy")
app.add_typer(cli_lanes.app, name="lanes")


@app.command()
def dev(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    """Run the embedded Temporal server and the worker in the foreground; Ctrl-C stops both."""
    setup_logging(verbose)
    settings = load_settings()
    run(_dev(settings))


async def _dev(settings: Settings) -> None:
    server = None
    if settings.embedded_temporal:
        try:
            server = await start_dev_server(settings)
        except DevServerError as err:
            fail(str(err))
    try:
        engine = make_engine(settings.sandbox_database_url)
        create_schema(engine)
        if is_empty(engine):
            summary = seed_sandbox(engine, anchor=datetime.now(UTC).date())
            typer.echo(f"Sandbox:  seeded {summary.counts.get('account', 0)} accounts")
        engine.dispose()
        typer.echo(f"Temporal: {settings.address}")
        if server is not None and server.ui_url:
            typer.echo(f"Web UI:   {server.ui_url}")
        await _serve_worker(settings)
    finally:
        if server is not None:
            server.stop()


@app.command()
def worker(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    """Run the worker for every lane against the configured Temporal server."""
    setup_logging(verbose)
    settings = load_settings()
    run(_serve_worker(settings))


async def _serve_worker(settings: Settings) -> None:
    try:
        client = await connect(settings)
    except TemporalUnavailable as err:
        fail(str(err))
    runtime = build_runtime(settings)
    try:
        await ensure_search_attributes(settings, client)
    except RPCError as err:
        # Temporal Cloud and locked-down clusters register attributes out of band.
        logger.warning("could not check search attributes (%s); register them by hand", err.message)
    await ensure_schedules(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    typer.echo(f"Worker polling task queue {settings.task_queue}; Ctrl-C stops it.")
    await run_worker(client, runtime, stop=stop)
    typer.echo("Worker stopped.")


@app.command()
def demo(
    crm_csv: Path | None = typer.Option(
        None,
        "--crm-csv",
        help="Import a CRM export folder (accounts.csv, products.csv, sales_teams.csv, "
        "sales_pipeline.csv) into the sandbox instead of the generated book.",
        exists=True,
        file_okay=False,
        dir_okay=True,
    ),
    timeout: float = typer.Option(180.0, help="Seconds to wait for runs to settle."),
    reasoner: str | None = typer.Option(
        None,
        help="offline (rules, the default) or openai (any OpenAI-compatible server); "
        "restarts the background worker with it.",
    ),
    base_url: str | None = typer.Option(
        None, help="Server URL for --reasoner openai, e.g. http://127.0.0.1:11434/v1."
    ),
    model: str | None = typer.Option(None, help="Model name for --reasoner openai."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", help="Environment variable holding the API key."
    ),
) -> None:
    """Run both lanes on the embedded stack and print the runs they produced."""
    setup_logging(False, level="WARNING")
    settings = load_settings()
    environment = _reasoner_environment(reasoner, base_url, model, api_key_env)
    run(
        run_demo(
            settings,
            crm_csv=crm_csv,
            timeout_seconds=timeout,
            worker_environment=environment,
        )
    )


def _reasoner_environment(
    reasoner: str | None, base_url: str | None, model: str | None, api_key_env: str
) -> dict[str, str] | None:
    """Check the reasoner options and turn them into the worker's environment."""
    if reasoner is None:
        if base_url or model:
            fail("--base-url and --model need --reasoner openai")
        return None
    if reasoner == "offline":
        if base_url or model:
            fail("--base-url and --model only apply to --reasoner openai")
        return {"HANDRAIL_REASONER": "offline"}
    if reasoner != "openai":
        fail(f"invalid --reasoner {reasoner!r}: use offline or openai")
    if not base_url or not model:
        fail("--reasoner openai needs --base-url URL and --model NAME")
    if not base_url.startswith(("http://", "https://")):
        fail(f"invalid --base-url {base_url!r}: use an http:// or https:// URL")
    if not os.environ.get(api_key_env):
        fail(
            f"environment variable {api_key_env} is not set; set it to your API key "
            "(any value for a local server that ignores keys, such as Ollama)"
        )
    return {
        "HANDRAIL_REASONER": "openai",
        "HANDRAIL_MODEL__MODEL": model,
        "HANDRAIL_MODEL__BASE_URL": base_url,
        "HANDRAIL_MODEL__API_KEY_ENV": api_key_env,
    }


@app.command()
def stop() -> None:
    """Stop the worker and Temporal server that `handrail demo` left running."""
    settings = load_settings()
    stopped = stop_all(settings)
    typer.echo(f"Stopped: {', '.join(stopped)}." if stopped else "Nothing was running.")


def main() -> None:
    try:
        app()
        code: int = 0
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # NOTE: with temporalio 1.35, interpreter shutdown after a failed connect
    # sometimes aborts (PyGILState_Release from a core thread), turning exit
    # code 2 into 134. Leaving without finalization keeps the exit code.
    os._exit(code)


if __name__ == "__main__":
    main()
