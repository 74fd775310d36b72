"""Tests of the sandbox system of record: schema, seed data, reads, queries and writes.

Every test that takes ``engine`` runs on SQLite and on PostgreSQL. The PostgreSQL
case creates a throwaway database through the admin URL in
HANDRAIL_TEST_POSTGRES_URL and drops it afterwards. It is skipped when the server
cannot be reached.
"""

import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

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
    assert 8 <= summary.counts["user"] <= 20
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
    high_value = adapter.query(
        "contract", fields=["annual_value"], where=[Filter("account_id", "eq", high)]
    )
    low_value = adapter.query(
        "contract", fields=["annual_value"], where=[Filter("account_id", "eq", low)]
    )
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
    contract = adapter.query(
        "contract", fields=["annual_value"], where=[Filter("account_id", "eq", account_id)]
    )
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
    contracts = adapter.query(
        "contract", fields=["start_date"], where=[Filter("account_id", "eq", account_id)]
    )
    assert len(contracts) == 2


def test_scenario_no_usage_data(adapter: SandboxAdapter) -> None:
    (account_id,) = SCENARIO_ACCOUNTS["no_usage_data"]
    rows = adapter.query("usage_summary", fields=[], where=[Filter("account_id", "eq", account_id)])
    assert rows == []


# Reads and queries


def test_adapter_satisfies_protocol(adapter: SandboxAdapter) -> None:
    assert isinstance(adapter, SystemOfRecord)
    assert adapter.system == "sandbox"


def test_read_returns_typed_values(adapter: SandboxAdapter) -> None:
    contract = adapter.read("contract", "ctr_001", ["annual_value", "end_date"])
    ticket = adapter.query("support_ticket", fields=["opened_at", "severity"], limit=1)[0]
    user = adapter.read("user", "usr_010", ["active", "manager_id"])
    assert contract == {"annual_value": Decimal("180000.00"), "end_date": contract["end_date"]}
    assert type(contract["end_date"]) is date
    assert isinstance(ticket["opened_at"], datetime)
    assert ticket["opened_at"].utcoffset() == timedelta(0)
    assert type(ticket["severity"]) is int
    assert user == {"active": False, "manager_id": "usr_002"}


def test_read_returns_only_named_fields(adapter: SandboxAdapter) -> None:
    assert adapter.read("account", "acc_001", ["name"]) == {"name": "Alderbrook Health"}
    assert adapter.read("account", "acc_001", ["id", "segment"]) == {
        "id": "acc_001",
        "segment": "enterprise",
    }


def test_read_errors(adapter: SandboxAdapter) -> None:
    with pytest.raises(RecordNotFound, match="acc_999"):
        adapter.read("account", "acc_999", ["name"])
    with pytest.raises(UnknownField, match="password"):
        adapter.read("user", "usr_001", ["name", "password"])
    with pytest.raises(UnknownField, match="applied_write"):
        adapter.read("applied_write", "x", ["result"])


def test_query_selects_only_named_columns(adapter: SandboxAdapter) -> None:
    statements: list[str] = []

    def capture(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(statement)

    event.listen(adapter.engine, "before_cursor_execute", capture)
    try:
        rows = adapter.query("meeting_note", fields=["meeting_date"], limit=3)
    finally:
        event.remove(adapter.engine, "before_cursor_execute", capture)
    assert [set(row) for row in rows] == [{"id", "meeting_date"}] * 3
    selects = [
        statement for statement in statements if statement.lstrip().upper().startswith("SELECT")
    ]
    assert len(selects) == 1
    assert "*" not in selects[0]
    assert "body" not in selects[0]


def test_query_errors(adapter: SandboxAdapter) -> None:
    with pytest.raises(UnknownField, match="invoice"):
        adapter.query("invoice", fields=["amount"])
    with pytest.raises(UnknownField, match="salary"):
        adapter.query("user", fields=["salary"])
    with pytest.raises(UnknownField, match="secret"):
        adapter.query("account", fields=["name"], where=[Filter("secret", "eq", "x")])
    with pytest.raises(UnknownField, match="rank"):
        adapter.query("account", fields=["name"], order_by="rank")
    with pytest.raises(RejectedByTarget, match="expects a date"):
        adapter.query("opportunity", fields=[], where=[Filter("close_date", "lt", "2026-01-01")])
    with pytest.raises(RejectedByTarget, match="list of values"):
        adapter.query("opportunity", fields=[], where=[Filter("stage", "in", "Proposal")])
    with pytest.raises(RejectedByTarget, match="needs a value"):
        adapter.query("opportunity", fields=[], where=[Filter("amount", "gt", None)])
    with pytest.raises(RejectedByTarget, match="limit"):
        adapter.query("account", fields=[], limit=0)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Filter("segment", "eq", "smb"), lambda row: row["segment"] == "smb"),
        (Filter("segment", "ne", "smb"), lambda row: row["segment"] != "smb"),
        (Filter("owner_id", "ne", "usr_003"), lambda row: row["owner_id"] != "usr_003"),
        (Filter("owner_id", "eq", None), lambda row: row["owner_id"] is None),
        (Filter("owner_id", "is_null"), lambda row: row["owner_id"] is None),
        (Filter("owner_id", "not_null"), lambda row: row["owner_id"] is not None),
        (
            Filter("erp_customer_id", "lt", "cus_005"),
            lambda row: row["erp_customer_id"] is not None and row["erp_customer_id"] < "cus_005",
        ),
        (Filter("name", "ge", "W"), lambda row: row["name"] >= "W"),
        (
            Filter("id", "in", ["acc_001", "acc_030", "acc_999"]),
            lambda row: row["id"] in {"acc_001", "acc_030"},
        ),
        (Filter("id", "in", []), lambda row: False),
    ],
    ids=lambda value: f"{value.field}-{value.op}" if isinstance(value, Filter) else "",
)
def test_query_filters(adapter: SandboxAdapter, condition: Filter, expected) -> None:
    fields = ["name", "segment", "owner_id", "erp_customer_id"]
    everything = adapter.query("account", fields=fields, limit=1_000)
    matched = adapter.query("account", fields=fields, where=[condition], limit=1_000)
    assert matched == [row for row in everything if expected(row)]


def test_query_compares_dates_and_money(adapter: SandboxAdapter) -> None:
    rows = adapter.query(
        "contract",
        fields=["annual_value", "end_date"],
        where=[Filter("annual_value", "ge", 100_000), Filter("end_date", "le", WINDOW_END)],
        limit=100,
    )
    assert rows
    assert all(row["annual_value"] >= 100_000 and row["end_date"] <= WINDOW_END for row in rows)


def test_query_order_and_limit(adapter: SandboxAdapter) -> None:
    ascending = adapter.query("opportunity", fields=["amount"], order_by="amount", limit=1_000)
    descending = adapter.query(
        "opportunity", fields=["amount"], order_by="amount", descending=True, limit=5
    )
    amounts = [row["amount"] for row in ascending]
    known = [amount for amount in amounts if amount is not None]
    assert amounts[: len(known)] == sorted(known)
    assert amounts[len(known) :] == [None] * (len(amounts) - len(known))
    assert [row["amount"] for row in descending] == sorted(known, reverse=True)[:5]


# Writes


def test_apply_creates_task(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields(), approved_by="usr_008")
    result = adapter.apply(request)
    assert result.applied
    assert not result.already_applied
    assert result.target_record_id is not None
    assert result.target_record_id.startswith("tsk_")
    assert result.rollback is not None
    assert result.rollback.delete_record_id == result.target_record_id
    task = adapter.read(
        "task",
        result.target_record_id,
        ["what_id", "account_id", "owner_id", "due_date", "status", "created_by", "created_at"],
    )
    assert task["account_id"] == "acc_006"
    assert task["due_date"] == ANCHOR + timedelta(days=3)
    assert task["status"] == "open"
    assert task["created_by"] == "handrail:usr_008"
    assert task["created_at"].tzinfo is not None


def test_apply_creates_note(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {
        "parent_id": TextValue(value="acc_004"),
        "title": TextValue(value="Renewal risk"),
        "body": TextValue(value="Usage fell 15% over six months."),
    }
    result = adapter.apply(write_request(Operation.CREATE, "note", fields))
    assert result.target_record_id is not None
    note = adapter.read("note", result.target_record_id, ["account_id", "created_by", "body"])
    assert note == {
        "account_id": "acc_004",
        "created_by": "handrail",
        "body": "Usage fell 15% over six months.",
    }


def test_apply_updates_opportunity(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {
        "renewal_risk": TextValue(value="high"),
        "amount": DecimalValue(value=Decimal("36000.50")),
        "close_date": DateValue(value=ANCHOR + timedelta(days=40)),
        "product": NullValue(),
    }
    before = adapter.read("opportunity", "opp_007", list(fields))
    result = adapter.apply(
        write_request(Operation.UPDATE, "opportunity", fields, record_id="opp_007")
    )
    assert result.target_record_id == "opp_007"
    assert result.rollback is not None
    assert result.rollback.before_image == {
        "renewal_risk": TextValue(value="low"),
        "amount": DecimalValue(value=before["amount"]),
        "close_date": DateValue(value=before["close_date"]),
        "product": TextValue(value=before["product"]),
    }
    assert adapter.read("opportunity", "opp_007", list(fields)) == {
        "renewal_risk": "high",
        "amount": Decimal("36000.50"),
        "close_date": ANCHOR + timedelta(days=40),
        "product": None,
    }


def test_apply_is_idempotent(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields())
    first = adapter.apply(request)
    second = adapter.apply(request)
    assert second.already_applied
    assert second.target_record_id == first.target_record_id
    assert second.applied_at == first.applied_at
    tasks = adapter.query("task", fields=[], where=[Filter("what_id", "eq", "opp_006")])
    assert len(tasks) == 1


def test_apply_same_key_from_threads(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields())
    results = []
    errors = []

    def apply() -> None:
        try:
            results.append(adapter.apply(request))
        except Exception as error:  # collected for the assert below
            errors.append(error)

    threads = [threading.Thread(target=apply) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({result.target_record_id for result in results}) == 1
    assert count(adapter, "task") == 1


def test_find_applied(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields())
    assert adapter.find_applied(request.idempotency_key) is None
    result = adapter.apply(request)
    found = adapter.find_applied(request.idempotency_key)
    assert found is not None
    assert found.already_applied
    assert found.model_copy(update={"already_applied": False}) == result


def test_revert_created_task(adapter: SandboxAdapter) -> None:
    result = adapter.apply(write_request(Operation.CREATE, "task", task_fields()))
    adapter.revert(result)
    assert count(adapter, "task") == 0
    adapter.revert(result)
    assert count(adapter, "task") == 0


def test_revert_restores_before_image(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {"renewal_risk": TextValue(value="high")}
    result = adapter.apply(
        write_request(Operation.UPDATE, "opportunity", fields, record_id="opp_007")
    )
    adapter.revert(result)
    assert adapter.read("opportunity", "opp_007", ["renewal_risk"]) == {"renewal_risk": "low"}


def test_revert_refuses_overwriting_later_edit(adapter: SandboxAdapter) -> None:
    ours = write_request(
        Operation.UPDATE,
        "opportunity",
        {"renewal_risk": TextValue(value="high")},
        record_id="opp_007",
    )
    theirs = write_request(
        Operation.UPDATE,
        "opportunity",
        {"renewal_risk": TextValue(value="medium")},
        record_id="opp_007",
    )
    result = adapter.apply(ours)
    adapter.apply(theirs)
    with pytest.raises(Conflict, match="renewal_risk"):
        adapter.revert(result)
    assert adapter.read("opportunity", "opp_007", ["renewal_risk"]) == {"renewal_risk": "medium"}


def test_revert_unknown_key(adapter: SandboxAdapter) -> None:
    result = adapter.apply(write_request(Operation.CREATE, "task", task_fields()))
    with pytest.raises(RecordNotFound, match="no write"):
        adapter.revert(result.model_copy(update={"idempotency_key": "wf-test:never"}))


def test_dry_run_writes_nothing(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields(), dry_run=True)
    result = adapter.apply(request)
    assert not result.applied
    assert result.target_record_id is None
    assert count(adapter, "task") == 0
    assert adapter.find_applied(request.idempotency_key) is None

    update = write_request(
        Operation.UPDATE,
        "opportunity",
        {"renewal_risk": TextValue(value="high")},
        record_id="opp_007",
        dry_run=True,
    )
    assert adapter.apply(update).target_record_id == "opp_007"
    assert adapter.read("opportunity", "opp_007", ["renewal_risk"]) == {"renewal_risk": "low"}


def test_dry_run_still_validates(adapter: SandboxAdapter) -> None:
    request = write_request(
        Operation.CREATE, "task", task_fields(owner_id=TextValue(value="usr_010")), dry_run=True
    )
    with pytest.raises(RejectedByTarget, match="inactive"):
        adapter.apply(request)


@pytest.mark.parametrize(
    ("operation", "target", "fields", "record_id", "error", "message"),
    [
        (
            Operation.CREATE,
            "task",
            task_fields(priority=TextValue(value="high")),
            None,
            UnknownField,
            "priority",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(created_by=TextValue(value="me")),
            None,
            RejectedByTarget,
            "read-only",
        ),
        (
            Operation.CREATE,
            "task",
            {"subject": TextValue(value="x")},
            None,
            RejectedByTarget,
            "owner_id, due_date, what_id",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(subject=TextValue(value="  ")),
            None,
            RejectedByTarget,
            "subject",
        ),
        (
            Operation.CREATE,
            "note",
            {"title": TextValue(value="x")},
            None,
            RejectedByTarget,
            "parent_id, body",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(owner_id=TextValue(value="usr_010")),
            None,
            RejectedByTarget,
            "inactive",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(owner_id=TextValue(value="usr_404")),
            None,
            RejectedByTarget,
            "not a user",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(what_id=TextValue(value="opp_404")),
            None,
            RejectedByTarget,
            "opp_404",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(due_date=TextValue(value="tomorrow")),
            None,
            RejectedByTarget,
            "expects a date",
        ),
        (
            Operation.CREATE,
            "task",
            task_fields(status=TextValue(value="done")),
            None,
            RejectedByTarget,
            "allowed values",
        ),
        (Operation.CREATE, "task", task_fields(), "tsk_1", RejectedByTarget, "no target_record_id"),
        (
            Operation.CREATE,
            "opportunity",
            {"name": TextValue(value="x")},
            None,
            RejectedByTarget,
            "not supported",
        ),
        (
            Operation.CREATE,
            "invoice",
            {"name": TextValue(value="x")},
            None,
            UnknownField,
            "invoice",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"renewal_risk": TextValue(value="critical")},
            "opp_007",
            RejectedByTarget,
            "allowed values",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"stage": NullValue()},
            "opp_007",
            RejectedByTarget,
            "required",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"amount": DecimalValue(value=Decimal("1.005"))},
            "opp_007",
            RejectedByTarget,
            "decimal places",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"id": TextValue(value="opp_x")},
            "opp_007",
            RejectedByTarget,
            "read-only",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"owner_id": TextValue(value="usr_010")},
            "opp_007",
            RejectedByTarget,
            "inactive",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"account_id": TextValue(value="acc_404")},
            "opp_007",
            RejectedByTarget,
            "acc_404",
        ),
        (
            Operation.UPDATE,
            "opportunity",
            {"risk_score": TextValue(value="9")},
            "opp_007",
            UnknownField,
            "risk_score",
        ),
        (Operation.UPDATE, "opportunity", {}, "opp_007", RejectedByTarget, "no fields"),
        (
            Operation.UPDATE,
            "opportunity",
            {"renewal_risk": TextValue(value="high")},
            "opp_404",
            RecordNotFound,
            "opp_404",
        ),
        (
            Operation.UPDATE,
            "account",
            {"name": TextValue(value="x")},
            "acc_001",
            RejectedByTarget,
            "not supported",
        ),
    ],
)
def test_apply_rejects_invalid_request(
    adapter: SandboxAdapter,
    operation: Operation,
    target: str,
    fields: dict[str, ScalarValue],
    record_id: str | None,
    error: type[Exception],
    message: str,
) -> None:
    request = write_request(operation, target, fields, record_id=record_id)
    with pytest.raises(error, match=message):
        adapter.apply(request)
    assert adapter.find_applied(request.idempotency_key) is None
    assert count(adapter, "task") == 0
    assert adapter.read("opportunity", "opp_007", ["renewal_risk"]) == {"renewal_risk": "low"}


def test_apply_rejects_other_system(adapter: SandboxAdapter) -> None:
    request = write_request(Operation.CREATE, "task", task_fields(), target_system="salesforce")
    with pytest.raises(RejectedByTarget, match="salesforce"):
        adapter.apply(request)


def test_timeout_after_apply_hook(engine: Engine) -> None:
    seed_sandbox(engine, anchor=ANCHOR)
    adapter = SandboxAdapter(engine, fail_after_apply=1)
    request = write_request(Operation.CREATE, "task", task_fields())

    with pytest.raises(Transient, match="timed out after apply"):
        adapter.apply(request)
    found = adapter.find_applied(request.idempotency_key)
    assert found is not None
    assert count(adapter, "task") == 1

    retried = adapter.apply(request)
    assert retried.already_applied
    assert retried.target_record_id == found.target_record_id
    assert count(adapter, "task") == 1
    assert not adapter.apply(write_request(Operation.CREATE, "task", task_fields())).already_applied


def test_reset_gives_new_instance(engine: Engine) -> None:
    create_schema(engine)
    adapter = SandboxAdapter(engine)
    first = adapter.instance
    assert re.fullmatch(r"[0-9a-f]{6}", first)
    assert adapter.instance == first
    reset(engine)
    assert adapter.instance != first
