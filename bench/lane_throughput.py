"""Measure end-to-end renewal-lane throughput on the embedded stack.

Starts a private dev server on free ports, seeds a sandbox, runs the worker in
this process and submits RUNS events for renewals that are written without
review (note, task and risk field). Reports runs per second from the first
submit to the last closed run, per-run latency percentiles and peak memory.

    .venv/bin/python bench/lane_throughput.py --runs 200
"""

import argparse
import asyncio
import platform
import resource
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from adapters.base import Filter
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import create_schema, make_engine
from adapters.sandbox.seed import seed_sandbox
from gateway.submit import submit_event
from handrail.devserver import start_dev_server
from handrail.settings import Settings
from handrail.temporal_client import connect
from handrail.worker import build_runtime, run_worker
from tests.helpers import renewal_event, today

# Accounts whose renewals the default policy writes without a reviewer.
AUTO_WRITTEN = ["acc_004", "acc_009", "acc_002", "acc_003"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(runs: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="handrail-bench-"))
    settings = Settings(
        data_dir=data_dir, temporal_port=free_port(), temporal_ui=False, task_queue="bench"
    )
    server = await start_dev_server(settings)
    try:
        sandbox = make_engine(settings.sandbox_database_url)
        create_schema(sandbox)
        seed_sandbox(sandbox, anchor=today())
        adapter = SandboxAdapter(sandbox)
        runtime = build_runtime(settings, {"sandbox": adapter})
        client = await connect(settings)
        opportunities = []
        for account in AUTO_WRITTEN:
            rows = adapter.query(
                "opportunity",
                fields=["type"],
                where=[Filter("account_id", "eq", account), Filter("type", "eq", "renewal")],
                limit=1,
            )
            opportunities.append((str(rows[0]["id"]), account))

        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(client, runtime, stop=stop))
        await asyncio.sleep(0.5)

        started_at: dict[str, float] = {}
        began = time.perf_counter()
        for index in range(runs):
            opp, account = opportunities[index % len(opportunities)]
            event = renewal_event(opp, account, key=f"bench:{uuid.uuid4().hex[:12]}")
            started_at[event.workflow_id] = time.perf_counter()
            await submit_event(client, runtime.app_engine, settings, event)
        submitted = time.perf_counter()

        async def finish(workflow_id: str) -> float:
            await client.get_workflow_handle(workflow_id).result()
            return time.perf_counter()

        ended = await asyncio.gather(*(finish(w) for w in started_at))
        done = time.perf_counter()
        latencies = sorted(end - started_at[w] for w, end in zip(started_at, ended, strict=True))
        stop.set()
        await worker
    finally:
        server.stop()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.platform()}, {platform.python_version()}, cpus={_cpus()}")
    print(f"runs: {runs} (3 writes each)")
    print(f"submit rate: {runs / (submitted - began):.1f} events/s")
    print(f"throughput: {runs / (done - began):.1f} runs/s end to end ({done - began:.1f} s)")
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"latency s: p50 {p50:.2f}  p95 {p95:.2f}  max {latencies[-1]:.2f}")
    print(f"peak RSS of the submitter and worker process: {peak_mib:.0f} MiB")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="number of runs to submit")
    asyncio.run(main(parser.parse_args().runs))
