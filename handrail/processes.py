"""Background processes the demo leaves running: the dev server and the worker."""

import json
import os
import subprocess
import sys
from pathlib import Path

from handrail.devserver import stop_background
from handrail.settings import Settings

WORKER = "worker"
TEMPORAL = "temporal"


def pid_alive(settings: Settings, name: str) -> int | None:
    """Return the pid recorded for ``name`` if that process is still running."""
    pid_file = settings.run_dir / f"{name}.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ValueError, OSError):
        return None
    # A recycled pid belongs to some other program.
    markers = {WORKER: b"handrail", TEMPORAL: b"temporal"}
    return pid if markers[name] in cmdline else None


def start_worker_background(
    settings: Settings, *, environment: dict[str, str] | None = None
) -> tuple[int, bool]:
    """Start ``handrail worker`` in its own session unless one is running.

    Args:
        settings: the loaded settings.
        environment: extra ``HANDRAIL_*`` variables for the worker; when given, a
            running worker is restarted so that it picks them up. Defaults to None.

    Returns:
        The worker's pid, and True if this call started it.
    """
    running = pid_alive(settings, WORKER)
    if running is not None and environment:
        stop_background(settings, WORKER)
        running = None
    if running is not None:
        return running, False
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    # Stored so that a later demo reusing this worker can report which reasoner it runs.
    (settings.run_dir / "worker.json").write_text(json.dumps(environment or {}))
    log_path = settings.run_dir / "worker.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "handrail.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(environment or {})},
        )
    (settings.run_dir / f"{WORKER}.pid").write_text(str(process.pid))
    return process.pid, True


def stop_all(settings: Settings) -> list[str]:
    """Stop the background worker, then the embedded server; return what was stopped."""
    stopped = []
    for name in (WORKER, TEMPORAL):
        if stop_background(settings, name):
            stopped.append(name)
    return stopped


def worker_reasoner(settings: Settings) -> str:
    """Return the reasoner the background worker was started with."""
    try:
        environment = json.loads((settings.run_dir / "worker.json").read_text())
    except (OSError, ValueError):
        return settings.reasoner
    return str(environment.get("HANDRAIL_REASONER", settings.reasoner))
