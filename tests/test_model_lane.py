"""The renewal lane with the model-backed reasoner against a fake OpenAI-compatible server.

Each outcome of a model call runs through a real workflow on the dev server.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from activities.lanes import LaneRegistry, bind
from adapters.base import Filter
from adapters.llm.model_prompt import default_prompt_path
from adapters.llm.model_reasoner import ModelConfig, ModelReasoner
from adapters.llm.model_usage import ModelPrice
from contracts import LaneResult, ReviewOutcome, RunStatus, StatusReason
from handrail.db import AuditRecord
from handrail.runs import decide
from handrail.settings import Settings
from handrail.worker import Runtime
from tests.fake_openai import (
    SERVED_MODEL,
    FakeOpenAI,
    completion,
    error,
    json_completion,
    rate_limited,
    refusal,
    serving,
)
from tests.helpers import (
    renewal_event,
    renewal_opportunity,
    run_settings,
    running_worker,
    start_run,
    wait_for_status,
)
from workflows.catalog import LANE_WORKFLOWS

KEY = "sk-test-lane-key"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with serving(FakeOpenAI()) as server:
        yield server


@pytest.fixture
def model_runtime(runtime: Runtime, fake: FakeOpenAI) -> Runtime:
    config = ModelConfig(
        model="gpt-test",
        base_url=fake.base_url,
        timeout_seconds=5,
        prices={
            SERVED_MODEL: ModelPrice(
                input=Decimal("2.50"), cached_input=Decimal("1.25"), output=Decimal("10")
            )
        },
    )
    bindings = []
    for lane in LANE_WORKFLOWS.values():
        spec = lane.spec
        reasoner = ModelReasoner(
            lane=spec.name,
            config=config,
            prompt_path=default_prompt_path(spec.name),
            policy=runtime.policies.current(spec.policy),
        )
        bindings.append(bind(spec, reasoner))
    runtime.lanes = LaneRegistry(bindings)
    return runtime


def medium_output(opportunity: str, *, target: str | None = None) -> dict[str, Any]:
    """A valid model output for acc_004: the risk field set to medium."""
    return {
        "summary": "Driftwood Retail Group: medium renewal risk, usage down 15 %.",
        "risk_level": "medium",
        "classification": None,
        "recommendation": None,
        "confidence": 0.85,
        "evidence": [{"field": "usage_trend_pct", "observation": "active users down 15 %"}],
        "actions": [
            {
                "action_id": "risk",
                "kind": "risk_field",
                "operation": "update",
                "target_object": "opportunity",
                "target_record_id": target or opportunity,
                "fields": [{"name": "renewal_risk", "type": "text", "value": "medium"}],
                "rationale": "usage fell",
            }
        ],
    }


async def run_lane(client: Client, settings: Settings, runtime: Runtime, account: str):  # type: ignore[no-untyped-def]
    opp = renewal_opportunity(runtime, account)
    event = renewal_event(opp, account)
    handle = await start_run(client, settings, event, run_settings())
    return opp, event, handle


def audit_detail(runtime: Runtime, workflow_id: str, step: str) -> dict[str, str]:
    with Session(runtime.app_engine) as session:
        row = session.exec(
            select(AuditRecord).where(
                AuditRecord.workflow_id == workflow_id, AuditRecord.step == step
            )
        ).first()
    assert row is not None, step
    return json.loads(row.detail_json)


async def test_ok_writes_and_records_usage(
    client: Client, settings: Settings, model_runtime: Runtime, fake: FakeOpenAI
) -> None:
    async with running_worker(client, model_runtime):
        opp, event, handle = await run_lane(client, settings, model_runtime, "acc_004")
        fake.queue(json_completion(medium_output(opp)))
        result: LaneResult = await handle.result()
    assert (result.status, result.reason) == (RunStatus.WRITTEN, StatusReason.AUTO_APPROVED)
    sandbox = model_runtime.systems["sandbox"]
    assert sandbox.read("opportunity", opp, ["renewal_risk"])["renewal_risk"] == "medium"
    detail = audit_detail(model_runtime, event.workflow_id, "proposal")
    assert detail["model"] == SERVED_MODEL
    assert (detail["prompt_tokens"], detail["completion_tokens"]) == ("1200", "300")
    # 1,200 input tokens at 2.50 and 300 output tokens at 10 per million.
    assert Decimal(detail["cost_usd"]) == Decimal("0.006")


@pytest.mark.parametrize(
    ("behaviours", "reason"),
    [
        ([refusal("I can't help with that.")], StatusReason.AGENT_DECLINED),
        (
            [completion('{"summary": "cut', finish_reason="length")] * 2,
            StatusReason.AGENT_OUTPUT_TRUNCATED,
        ),
        ([completion("{not json")] * 2, StatusReason.AGENT_OUTPUT_INVALID),
    ],
    ids=["refused", "truncated", "invalid"],
)
async def test_unusable_output_goes_to_a_person(
    client: Client,
    settings: Settings,
    model_runtime: Runtime,
    fake: FakeOpenAI,
    behaviours: list[Any],
    reason: StatusReason,
) -> None:
    fake.queue(*behaviours)
    async with running_worker(client, model_runtime):
        _opp, event, handle = await run_lane(client, settings, model_runtime, "acc_004")
        state = await wait_for_status(handle, "needs_review", "failed")
        assert (state.status, state.reason) == (RunStatus.NEEDS_REVIEW, reason)
        assert state.pending_action_ids == []
        await decide(
            client,
            settings,
            event.workflow_id,
            outcome=ReviewOutcome.REJECT,
            reviewer_id="revops@example.com",
            note="handled in the CRM",
        )
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.SKIPPED, StatusReason.CLOSED_BY_REVIEWER)
    assert len(fake.requests) == len(behaviours)
    assert audit_detail(model_runtime, event.workflow_id, "handoff")["reason"] == reason.value


async def test_rate_limit_retried_after_delay(
    client: Client, settings: Settings, model_runtime: Runtime, fake: FakeOpenAI
) -> None:
    async with running_worker(client, model_runtime):
        opp, _, handle = await run_lane(client, settings, model_runtime, "acc_004")
        fake.queue(rate_limited({"retry-after": "1"}), json_completion(medium_output(opp)))
        result = await handle.result()
    assert result.status == RunStatus.WRITTEN
    assert len(fake.requests) == 2


async def test_outage_fails_after_bounded_retries(
    client: Client, settings: Settings, model_runtime: Runtime, fake: FakeOpenAI
) -> None:
    fake.queue(*[error(503, "overloaded", error_type="server_error")] * 5)
    async with running_worker(client, model_runtime):
        _, _, handle = await run_lane(client, settings, model_runtime, "acc_004")
        result = await handle.result()
    assert (result.status, result.reason) == (RunStatus.FAILED, StatusReason.AGENT_UNAVAILABLE)
    assert len(fake.requests) == 5
    assert "503" in result.message


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "Incorrect API key provided"), (400, "Invalid schema for response_format")],
    ids=["auth", "bad-request"],
)
async def test_rejected_request_fails_at_once(
    client: Client,
    settings: Settings,
    model_runtime: Runtime,
    fake: FakeOpenAI,
    status: int,
    message: str,
) -> None:
    fake.queue(error(status, message, error_type="invalid_request_error"))
    async with running_worker(client, model_runtime):
        _, _, handle = await run_lane(client, settings, model_runtime, "acc_004")
        result = await handle.result()
    assert (result.status, result.reason) == (
        RunStatus.FAILED,
        StatusReason.AGENT_REQUEST_REJECTED,
    )
    assert len(fake.requests) == 1
    assert KEY not in result.message


async def test_injected_write_elsewhere_never_lands(
    client: Client, settings: Settings, model_runtime: Runtime, fake: FakeOpenAI
) -> None:
    other = renewal_opportunity(model_runtime, "acc_006")
    async with running_worker(client, model_runtime):
        opp, _event, handle = await run_lane(client, settings, model_runtime, "acc_004")
        # The model obeys injected text twice: it targets another account's renewal.
        bad = medium_output(opp, target=other)
        fake.queue(json_completion(bad), json_completion(bad))
        state = await wait_for_status(handle, "needs_review")
        await handle.terminate("test done")
    assert state.reason == StatusReason.AGENT_OUTPUT_INVALID
    assert other in state.message
    sandbox = model_runtime.systems["sandbox"]
    assert sandbox.query("task", fields=["what_id"], where=[Filter("what_id", "eq", other)]) == []
    assert sandbox.read("opportunity", other, ["renewal_risk"])["renewal_risk"] != "medium"
