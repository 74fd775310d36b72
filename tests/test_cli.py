"""The ``handrail`` command line as a user runs it, in subprocesses."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from handrail.settings import Settings
from handrail.temporal_client import is_serving
from handrail.worker import Runtime
from tests.conftest import free_port, shared_dir
from tests.fake_openai import Behaviour, FakeOpenAI, json_completion, serving
from tests.helpers import (
    eventually,
    renewal_event,
    renewal_opportunity,
    running_worker,
    wait_for_status,
)


def handrail(
    settings: Settings, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HANDRAIL_DATA_DIR": str(settings.data_dir),
        "HANDRAIL_TASK_QUEUE": settings.task_queue,
    }
    if settings.temporal_address:
        env["HANDRAIL_TEMPORAL_ADDRESS"] = settings.temporal_address
    else:
        env["HANDRAIL_TEMPORAL_PORT"] = str(settings.temporal_port)
        env["HANDRAIL_TEMPORAL_UI_PORT"] = str(settings.temporal_ui_port)
    return subprocess.run(
        [sys.executable, "-m", "handrail.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=settings.data_dir.parent,
    )


async def handrail_async(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI without blocking the event loop that runs the in-process worker."""
    return await asyncio.to_thread(handrail, settings, *args)


def event_file(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


async def test_submit_review_and_approve(
    client: Client, settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006").model_dump(mode="json", exclude={"received_at"})
    path = event_file(tmp_path, event)
    async with running_worker(client, runtime):
        first = await handrail_async(settings, "events", "submit", str(path))
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("started")
        again = await handrail_async(settings, "events", "submit", str(path))
        assert again.returncode == 0, again.stderr
        assert "duplicate" in again.stdout
        assert "delivery 2" in again.stdout

        workflow_id = f"renewal_risk:{event['idempotency_key']}"
        await wait_for_status(client.get_workflow_handle(workflow_id), "needs_review")
        shown = await handrail_async(settings, "runs", "show", workflow_id)
        assert shown.returncode == 0, shown.stderr
        assert "needs_review" in shown.stdout
        assert "trigger.high_value" in shown.stdout

        unknown = await handrail_async(
            settings, "review", "approve", workflow_id, "--as", "nobody@example.com"
        )
        assert unknown.returncode == 2
        assert "not a known reviewer" in unknown.stderr

        approved = await handrail_async(
            settings, "review", "approve", workflow_id, "--as", "RevOps@Example.com", "--note", "ok"
        )
        assert approved.returncode == 0, approved.stderr
        assert "Run ended written / approved_by_reviewer" in approved.stdout

        second = await handrail_async(
            settings, "review", "approve", workflow_id, "--as", "revops@example.com"
        )
        assert second.returncode == 2
        assert "not awaiting review" in second.stderr

    writes = await handrail_async(settings, "sandbox", "writes", "--record", opp)
    assert writes.returncode == 0, writes.stderr
    assert "Tasks (1)" in writes.stdout
    assert "Notes (1)" in writes.stdout


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"event_type": "crm.opportunity.renewal_window_started"}, "event 0 is invalid"),
        ([1], "item 0 is not a JSON object"),
        ([], "holds an empty list"),
    ],
)
def test_submit_rejects_bad_file(
    settings: Settings, tmp_path: Path, payload: object, message: str
) -> None:
    result = handrail(settings, "events", "submit", str(event_file(tmp_path, payload)))
    assert result.returncode == 2
    assert message in result.stderr


def test_submit_rejects_unknown_lane(settings: Settings, tmp_path: Path) -> None:
    event = renewal_event("opp_001").model_dump(mode="json")
    event["workflow"] = "no_such_lane"
    result = handrail(settings, "events", "submit", str(event_file(tmp_path, event)))
    assert result.returncode == 2
    assert "unknown lane 'no_such_lane'" in result.stderr


def test_unreachable_temporal_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    result = handrail(settings, "runs", "list")
    assert result.returncode == 2, result.stderr
    assert "is not reachable" in result.stderr


def _demo_settings(tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(
        data_dir=data_dir,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        task_queue="demo",
    )


def test_demo_then_review(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    try:
        demo = handrail(settings, "demo", timeout=300)
        assert demo.returncode == 0, demo.stderr
        for status in ("written", "needs_review", "skipped"):
            assert status in demo.stdout
        assert "20 runs started" in demo.stdout
        queue = handrail(settings, "review", "list")
        assert queue.returncode == 0, queue.stderr
        assert re.search(r"renewal_risk:sandbox:[0-9a-f]{6}:opp_006:", queue.stdout)

        run_id = next(line.split()[0] for line in queue.stdout.splitlines() if "opp_006" in line)
        approved = handrail(settings, "review", "approve", run_id, "--as", "revops@example.com")
        assert approved.returncode == 0, approved.stderr
        writes = handrail(settings, "sandbox", "writes", "--record", "opp_006")
        assert "Tasks (1)" in writes.stdout
        assert "Notes (1)" in writes.stdout

        # A second demo finds every renewal already known and starts nothing.
        again = handrail(settings, "demo", timeout=300)
        assert again.returncode == 0, again.stderr
        assert "0 runs started, 20 already known" in again.stdout
    finally:
        stopped = handrail(settings, "stop")
    assert "worker" in stopped.stdout
    assert "temporal" in stopped.stdout


def test_demo_on_crm_export(tmp_path: Path) -> None:
    export = shared_dir() / "datasets" / "maven-crm-sales-opportunities"
    if not export.is_dir():
        pytest.skip(
            f"CRM export not found at {export}; set HANDRAIL_SHARED_DIR to the folder "
            "that contains datasets/maven-crm-sales-opportunities"
        )
    settings = _demo_settings(tmp_path)
    try:
        demo = handrail(settings, "demo", "--crm-csv", str(export), timeout=600)
        assert demo.returncode == 0, demo.stderr
        assert "repaired" in demo.stdout
        assert "written" in demo.stdout
        assert "needs_review" in demo.stdout
    finally:
        handrail(settings, "stop")


async def test_dev_runs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    env = {
        **os.environ,
        "HANDRAIL_DATA_DIR": str(settings.data_dir),
        "HANDRAIL_TEMPORAL_PORT": str(settings.temporal_port),
        "HANDRAIL_TEMPORAL_UI_PORT": str(settings.temporal_ui_port),
    }
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "handrail.cli", "dev"], env=env, stdout=out, stderr=out
        )
    try:
        await eventually(
            lambda: asyncio.to_thread(log.read_text),
            lambda text: "Worker polling" in text,
            timeout=60,
        )
        assert "Sandbox:  seeded 30 accounts" in log.read_text()
        assert await is_serving(settings.address)
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(process.wait, 30)
    assert code == 0, log.read_text()
    assert "Worker stopped." in log.read_text()
    assert not await is_serving(settings.address)


def _model_reply(request: dict[str, Any]) -> dict[str, Any]:
    """Return a completion for any lane's request: one allowed action on the run's own record."""
    message = next(m["content"] for m in request["messages"] if m["role"] == "user")
    document = json.loads(message.split("<context>", 1)[1].split("</context>", 1)[0])
    subject = document["subject"]
    if subject["object"] == "vendor_bill":
        field, value, kind = "review_status", "routed", "review_status"
    else:
        field, value, kind = "renewal_risk", "medium", "risk_field"
    output = {
        "summary": f"{subject['id']} assessed by the test model.",
        "risk_level": "medium" if kind == "risk_field" else None,
        "classification": None,
        "recommendation": None,
        "confidence": 0.9,
        "evidence": [],
        "actions": [
            {
                "action_id": "update",
                "kind": kind,
                "operation": "update",
                "target_object": subject["object"],
                "target_record_id": subject["id"],
                "fields": [{"name": field, "type": "text", "value": value}],
                "rationale": "test",
            }
        ],
    }
    return json_completion(output).body  # type: ignore[return-value]


def test_demo_with_model_reasoner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-demo")
    settings = _demo_settings(tmp_path)
    with serving(FakeOpenAI()) as fake:
        fake.queue(*[Behaviour(body=_model_reply)] * 60)
        try:
            demo = handrail(
                settings,
                "demo",
                "--reasoner",
                "openai",
                "--base-url",
                fake.base_url,
                "--model",
                "gpt-test",
                timeout=300,
            )
        finally:
            handrail(settings, "stop")
    assert demo.returncode == 0, demo.stderr
    assert "reasoner openai" in demo.stdout
    assert "written" in demo.stdout
    # One model call per run that reached the agent step, none for duplicates.
    assert len(fake.requests) >= 20
    assert all(r.headers["authorization"] == "Bearer sk-test-demo" for r in fake.requests)


def test_demo_reasoner_needs_model(tmp_path: Path) -> None:
    settings = _demo_settings(tmp_path)
    result = handrail(settings, "demo", "--reasoner", "openai")
    assert result.returncode == 2
    assert "--reasoner openai needs --base-url URL and --model NAME" in result.stderr


async def test_lanes_and_policy_commands(
    client: Client, settings: Settings, runtime: Runtime
) -> None:
    unknown = await handrail_async(
        settings, "lanes", "set-mode", "renewal_risk", "shadow", "--as", "nobody@example.com"
    )
    assert unknown.returncode == 2
    assert "not a known reviewer" in unknown.stderr
    changed = await handrail_async(
        settings, "lanes", "set-mode", "renewal_risk", "shadow", "--as", "revops@example.com"
    )
    assert changed.returncode == 0, changed.stderr
    paused = await handrail_async(
        settings, "lanes", "pause", "invoice_exception", "--as", "revops@example.com"
    )
    assert paused.returncode == 2
    assert "needs one of its reviewer roles: ap_specialist, finance" in paused.stderr
    paused = await handrail_async(
        settings, "lanes", "pause", "invoice_exception", "--as", "ap@example.com"
    )
    assert "Lane invoice_exception paused." in paused.stdout
    listed = await handrail_async(settings, "lanes", "list")
    assert listed.returncode == 0, listed.stderr
    renewal = next(line for line in listed.stdout.splitlines() if line.startswith("renewal_risk"))
    assert "shadow" in renewal
    assert "set at run time by revops@example.com" in renewal
    invoice = next(
        line for line in listed.stdout.splitlines() if line.startswith("invoice_exception")
    )
    assert "paused by ap@example.com" in invoice
    resumed = await handrail_async(
        settings, "lanes", "resume", "invoice_exception", "--as", "ap@example.com"
    )
    assert "Lane invoice_exception resumed." in resumed.stdout

    opp = renewal_opportunity(runtime, "acc_006")
    event = renewal_event(opp, "acc_006")
    async with running_worker(client, runtime):
        submitted = await handrail_async(
            settings,
            "events",
            "submit",
            str(event_file(settings.data_dir, event.model_dump(mode="json"))),
        )
        assert submitted.returncode == 0, submitted.stderr
        await wait_for_status(client.get_workflow_handle(event.workflow_id), "needs_review")
        explained = await handrail_async(settings, "policy", "explain", event.workflow_id)
    assert explained.returncode == 0, explained.stderr
    assert "trigger.high_value" in explained.stdout
    assert "policy sha256:" in explained.stdout
