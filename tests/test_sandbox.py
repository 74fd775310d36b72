"""Tests of the sandbox system of record: schema, seed data, reads, queries and writes.

Every test that takes ``engine`` runs on SQLite and on PostgreSQL. The PostgreSQL
case creates a throwaway database through the admin URL in
HANDRAIL_TEST_POSTGRES_URL and drops it afterwards; it is skipped when the server
cannot be reached.
"""

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import OperationalError

from adapters.base import (
    Conflict,
    Filter,
    RecordNotFound,
    RejectedByTarget,
    SystemOfRecord,
    Transient,
    UnknownField,
)
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import create_schema, is_empty, make_engine, reset
from adapters.sandbox.models import OBJECTS, table_of
from adapters.sandbox.seed import seed_sandbox
from adapters.sandbox.seed_scenarios import SCENARIO_ACCOUNTS
from contracts import (
    ActionKind,
    DateValue,
    DecimalValue,
    NullValue,
    Operation,
    TextValue,
    Verdict,
    WritebackRequest,
)
from contracts.values import ScalarValue

ANCHOR = date(2026, 12, 4)
WINDOW_END = ANCHOR + timedelta(days=60)
POSTGRES_ADMIN_URL = os.environ.get(
    "HANDRAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'sandbox' / 'sandbox.db'}")
        yield engine
        engine.dispose()
        return

    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {error.orig}")
    name = f"handrail_sbx_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def adapter(engine: Engine) -> SandboxAdapter:
    seed_sandbox(engine, anchor=ANCHOR)
    return SandboxAdapter(engine)


def write_request(
    operation: Operation,
    target_object: str,
    fields: dict[str, ScalarValue],
    *,
    record_id: str | None = None,
    key: str | None = None,
    **overrides: object,
) -> WritebackRequest:
    action_id = key or uuid.uuid4().hex[:8]
    values: dict[str, object] = dict(
        workflow_id="wf-test",
        action_id=action_id,
        kind=ActionKind.FOLLOW_UP_TASK,
        target_system="sandbox",
        target_object=target_object,
        target_record_id=record_id,
        operation=operation,
        idempotency_key=f"wf-test:{action_id}",
        fields=fields,
        agent_output_ref="0" * 64,
        policy_result=Verdict.ALLOW,
        policy_version="test",
        requested_at=datetime.now(UTC),
    )
    values.update(overrides)
    return WritebackRequest.model_validate(values)


def task_fields(**overrides: ScalarValue) -> dict[str, ScalarValue]:
    fields: dict[str, ScalarValue] = {
        "what_id": TextValue(value="opp_006"),
        "owner_id": TextValue(value="usr_003"),
        "subject": TextValue(value="Call the champion about the outage"),
        "due_date": DateValue(value=ANCHOR + timedelta(days=3)),
    }
    fields.update(overrides)
    return fields


def dump(adapter: SandboxAdapter) -> dict[str, list[dict]]:
    """Return every row of every object, read through the adapter."""
    result = {}
    for name, model in OBJECTS.items():
        fields = [column.name for column in table_of(model).columns]
        result[name] = adapter.query(name, fields=fields, order_by="id", limit=100_000)
    return result


def renewal_of(adapter: SandboxAdapter, account_id: str) -> dict:
    rows = adapter.query(
        "opportunity",
        fields=["renewal_date", "stage", "owner_id", "close_date", "last_activity_date", "amount"],
        where=[Filter("account_id", "eq", account_id), Filter("type", "eq", "renewal")],
        order_by="renewal_date",
    )
    return rows[0]


def usage_change(adapter: SandboxAdapter, account_id: str) -> float:
    rows = adapter.query(
        "usage_summary",
        fields=["month", "active_users"],
        where=[Filter("account_id", "eq", account_id)],
        order_by="month",
    )
    return rows[-1]["active_users"] / rows[0]["active_users"]


def open_tickets(adapter: SandboxAdapter, account_id: str) -> list[int]:
    rows = adapter.query(
        "support_ticket",
        fields=["severity"],
        where=[Filter("account_id", "eq", account_id), Filter("status", "eq", "open")],
    )
    return sorted(row["severity"] for row in rows)


def overdue_invoices(adapter: SandboxAdapter, account_id: str) -> list[dict]:
    account = adapter.read("account", account_id, ["erp_customer_id"])
    return adapter.query(
        "ar_invoice",
        fields=["amount", "credit_hold"],
        where=[
            Filter("erp_customer_id", "eq", account["erp_customer_id"]),
            Filter("paid", "eq", False),
            Filter("due_date", "lt", ANCHOR),
        ],
    )


def count(adapter: SandboxAdapter, object_name: str) -> int:
    return len(adapter.query(object_name, fields=[], limit=100_000))


# Schema and seed


def test_schema_helpers_create_and_reset(engine: Engine) -> None:
    assert is_empty(engine)
    create_schema(engine)
    assert is_empty(engine)
    seed_sandbox(engine, anchor=ANCHOR)
    assert not is_empty(engine)
    reset(engine)
    assert is_empty(engine)


def test_sqlite_engine_creates_folder_and_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'sandbox.db'}")
    with engine.connect() as connection:
        mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
        foreign_keys = connection.execute(text("PRAGMA foreign_keys")).scalar_one()
    engine.dispose()
    assert (tmp_path / "a" / "b").is_dir()
    assert mode == "wal"
    assert foreign_keys == 1


def test_seed_is_deterministic(tmp_path: Path) -> None:
    dumps = []
    for name, seed in (("one", 7), ("two", 7), ("three", 8)):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        seed_sandbox(engine, anchor=ANCHOR, seed=seed)
        dumps.append(dump(SandboxAdapter(engine)))
        engine.dispose()
    assert dumps[0] == dumps[1]
    assert dumps[0] != dumps[2]


def test_seed_rows_identical_on_every_engine(adapter: SandboxAdapter, tmp_path: Path) -> None:
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    seed_sandbox(reference, anchor=ANCHOR)
    assert dump(adapter) == dump(SandboxAdapter(reference))
    reference.dispose()


def test_seed_summary_matches_rows(engine: Engine) -> None:
    summary = seed_sandbox(engine, anchor=ANCHOR)
    adapter = SandboxAdapter(engine)
    for name, expected in summary.counts.items():
        assert count(adapter, name) == expected, name
    assert summary.counts["account"] == 30
    assert 8 <= summary.counts["user"] <= 10
    assert summary.in_window_renewals == 20


def test_seed_refuses_non_empty_sandbox(engine: Engine) -> None:
    seed_sandbox(engine, anchor=ANCHOR)
    with pytest.raises(ValueError, match="replace=True"):
        seed_sandbox(engine, anchor=ANCHOR)
    summary = seed_sandbox(engine, anchor=ANCHOR, replace=True)
    assert count(SandboxAdapter(engine), "account") == summary.counts["account"]


def test_seed_on_leap_day_anchor(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'leap.db'}")
    summary = seed_sandbox(engine, anchor=date(2028, 2, 29))
    engine.dispose()
    assert summary.in_window_renewals == 20


def test_seed_reviewers_exist(adapter: SandboxAdapter) -> None:
    users = adapter.query("user", fields=["email", "role", "active"], limit=50)
    by_email = {user["email"]: user for user in users}
    assert by_email["revops@example.com"]["role"] == "revops"
    assert by_email["finance@example.com"]["role"] == "finance"
    assert sum(user["role"] == "sales_manager" for user in users) == 2


def test_seed_renewal_window(adapter: SandboxAdapter) -> None:
    renewals = adapter.query(
        "opportunity",
        fields=["account_id"],
        where=[
            Filter("type", "eq", "renewal"),
            Filter("renewal_date", "gt", ANCHOR),
            Filter("renewal_date", "le", WINDOW_END),
        ],
    )
    assert len(renewals) == 20
    in_window = {row["account_id"] for row in renewals}
    assert renewal_of(adapter, "acc_015")["renewal_date"] == WINDOW_END
    assert renewal_of(adapter, "acc_021")["renewal_date"] == WINDOW_END + timedelta(days=1)
    assert renewal_of(adapter, "acc_027")["renewal_date"] == ANCHOR
    for scenario, account_ids in SCENARIO_ACCOUNTS.items():
        if scenario.startswith(("outside", "past", "renews_on", "window_first")):
            assert not in_window & set(account_ids), scenario
        else:
            assert set(account_ids) <= in_window, scenario


def test_seed_money_spread(adapter: SandboxAdapter) -> None:
    contracts = adapter.query("contract", fields=["annual_value", "currency"], limit=100)
    values = [row["annual_value"] for row in contracts]
    assert min(values) >= Decimal(5_000)
    assert max(values) <= Decimal(400_000)
    assert {row["currency"] for row in contracts} == {"USD"}


# Scenarios


@pytest.mark.parametrize("account_id", SCENARIO_ACCOUNTS["healthy"])
def test_scenario_healthy(adapter: SandboxAdapter, account_id: str) -> None:
    assert usage_change(adapter, account_id) > 1.05
    assert all(severity == 4 for severity in open_tickets(adapter, account_id))
    assert overdue_invoices(adapter, account_id) == []


@pytest.mark.parametrize("account_id", SCENARIO_ACCOUNTS["moderate"])
def test_scenario_moderate(adapter: SandboxAdapter, account_id: str) -> None:
    assert 0.78 <= usage_change(adapter, account_id) <= 0.92
    assert open_tickets(adapter, account_id) == [3, 3]
    assert overdue_invoices(adapter, account_id) == []


@pytest.mark.parametrize(
    "account_id", SCENARIO_ACCOUNTS["at_risk_high_value"] + SCENARIO_ACCOUNTS["at_risk"]
)
def test_scenario_at_risk(adapter: SandboxAdapter, account_id: str) -> None:
    assert usage_change(adapter, account_id) < 0.70
    assert 1 in open_tickets(adapter, account_id)
    assert overdue_invoices(adapter, account_id)


def test_scenario_at_risk_values(adapter: SandboxAdapter) -> None:
    high, low = SCENARIO_ACCOUNTS["at_risk_high_value"][0], SCENARIO_ACCOUNTS["at_risk"][0]
    high_value = adapter.query("contract", fields=["annual_value"], where=[Filter("account_id", "eq", high)])
    low_value = adapter.query("contract", fields=["annual_value"], where=[Filter("account_id", "eq", low)])
    assert high_value[0]["annual_value"] >= Decimal(100_000)
    assert low_value[0]["annual_value"] < Decimal(100_000)


def test_scenario_missing_owner(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["missing_owner"]
    assert adapter.read("account", account_id, ["owner_id"]) == {"owner_id": None}
    assert renewal_of(adapter, account_id)["owner_id"] is None


def test_scenario_stale_dates(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["stale_dates"]
    renewal = renewal_of(adapter, account_id)
    assert renewal["last_activity_date"] < ANCHOR - timedelta(days=120)
    assert renewal["close_date"] < ANCHOR
    assert not renewal["stage"].startswith("Closed")


def test_scenario_erp_mismatch(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["erp_mismatch"]
    account = adapter.read("account", account_id, ["name", "erp_customer_id"])
    customer = adapter.read("erp_customer", account["erp_customer_id"], ["name", "contract_value"])
    contract = adapter.query("contract", fields=["annual_value"], where=[Filter("account_id", "eq", account_id)])
    crm_value = contract[0]["annual_value"]
    assert customer["name"] != account["name"]
    assert abs(customer["contract_value"] - crm_value) > crm_value * Decimal("0.10")


def test_scenario_erp_blocked(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["erp_blocked"]
    account = adapter.read("account", account_id, ["erp_customer_id", "owner_id"])
    customer = adapter.read("erp_customer", account["erp_customer_id"], ["status"])
    assert customer["status"] == "blocked"
    assert any(invoice["credit_hold"] for invoice in overdue_invoices(adapter, account_id))
    assert account["owner_id"] is not None
    assert usage_change(adapter, account_id) > 1.05
    assert open_tickets(adapter, account_id) == []


def test_scenario_prompt_injection(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["prompt_injection"]
    where = [Filter("account_id", "eq", account_id)]
    notes = adapter.query("meeting_note", fields=["body"], where=where)
    tickets = adapter.query("support_ticket", fields=["body"], where=where)
    assert any("Ignore previous instructions" in note["body"] for note in notes)
    assert any("Ignore previous instructions" in ticket["body"] for ticket in tickets)


def test_scenario_already_renewed(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["already_renewed"]
    renewal = renewal_of(adapter, account_id)
    assert renewal["stage"] == "Closed Won"
    assert ANCHOR < renewal["renewal_date"] <= WINDOW_END
    contracts = adapter.query("contract", fields=["start_date"], where=[Filter("account_id", "eq", account_id)])
    assert len(contracts) == 2


def test_scenario_no_usage_data(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["no_usage_data"]
    rows = adapter.query("usage_summary", fields=[], where=[Filter("account_id", "eq", account_id)])
    assert rows == []
