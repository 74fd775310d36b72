"""Tests of the accounts-payable ERP in the sandbox: seed, scenarios, reads, queries and writes.

Every test that takes ``engine`` runs on SQLite and on PostgreSQL, as in
``test_sandbox.py``. The scenario tests recompute each exception from the rows
(prices, receipts, tax, thresholds, vendors) instead of trusting the ERP's label.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from adapters.base import Conflict, Filter, RecordNotFound, RejectedByTarget, UnknownField
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import make_engine
from adapters.sandbox.models import OBJECTS, table_of
from adapters.sandbox.models_erp import ERP_OBJECTS, EXCEPTION_TYPES
from adapters.sandbox.seed import seed_sandbox
from adapters.sandbox.seed_erp import seed_erp
from adapters.sandbox.seed_erp_scenarios import ERP_SCENARIO_BILLS
from contracts import BooleanValue, DateValue, NullValue, Operation, TextValue
from contracts.values import ScalarValue
from tests.test_sandbox import write_request

ANCHOR = date(2026, 12, 4)
CENT = Decimal("0.01")
BILL_FIELDS = [
    "vendor_id",
    "vendor_invoice_number",
    "purchase_order_id",
    "department_id",
    "requester_id",
    "bill_date",
    "due_date",
    "subtotal",
    "tax_amount",
    "total",
    "memo",
    "match_status",
    "exception_type",
    "review_status",
    "posted",
    "payment_hold",
]
VENDOR_FIELDS = [
    "name",
    "status",
    "created_date",
    "tax_id_present",
    "tax_id",
    "remit_bank_account",
    "payment_terms",
]


@pytest.fixture
def adapter(engine: Engine) -> SandboxAdapter:
    seed_sandbox(engine, anchor=ANCHOR, erp=True)
    return SandboxAdapter(engine)


def erp_dump(adapter: SandboxAdapter) -> dict[str, list[dict]]:
    """Return every ERP row and every user, read through the adapter."""
    result = {}
    for name in ("user", *ERP_OBJECTS):
        fields = [column.name for column in table_of(OBJECTS[name]).columns]
        result[name] = adapter.query(name, fields=fields, order_by="id", limit=10_000)
    return result


def lines_of(adapter: SandboxAdapter, bill_id: str) -> list[dict]:
    return adapter.query(
        "bill_line",
        fields=["line_no", "po_line_id", "quantity", "unit_price", "tax_rate", "line_total"],
        where=[Filter("vendor_bill_id", "eq", bill_id)],
        order_by="line_no",
    )


def received_quantities(adapter: SandboxAdapter, receipt_ids: list[str]) -> dict[str, Decimal]:
    """Return the quantity received per PO line over the given goods receipts."""
    rows = adapter.query(
        "receipt_line",
        fields=["po_line_id", "quantity_received"],
        where=[Filter("goods_receipt_id", "in", receipt_ids)],
    )
    received: dict[str, Decimal] = {}
    for row in rows:
        received[row["po_line_id"]] = received.get(row["po_line_id"], 0) + row["quantity_received"]
    return received


def director_limit(adapter: SandboxAdapter, department_id: str) -> Decimal:
    """Return the highest amount anyone but finance may approve in a department."""
    rows = adapter.query(
        "approval_threshold",
        fields=["max_amount"],
        where=[
            Filter("department_id", "eq", department_id),
            Filter("role", "in", ["manager", "director"]),
        ],
    )
    return max(row["max_amount"] for row in rows)


def detect_exceptions(adapter: SandboxAdapter, bill_id: str) -> set[str]:
    """Recompute the 3-way-match exceptions of a bill from the rows alone."""
    bill = adapter.read("vendor_bill", bill_id, BILL_FIELDS)
    vendor_id = bill["vendor_id"]
    found = set()

    # Vendor checks.
    vendor = adapter.read("vendor", vendor_id, ["status", "created_date"])
    if vendor["status"] == "new" and vendor["created_date"] >= ANCHOR - timedelta(days=30):
        found.add("new_vendor")
    pending = adapter.query(
        "vendor_bank_change",
        fields=[],
        where=[Filter("vendor_id", "eq", vendor_id), Filter("status", "eq", "pending")],
    )
    if pending:
        found.add("bank_change_request")
    same_number = adapter.query(
        "vendor_bill",
        fields=[],
        where=[
            Filter("vendor_id", "eq", vendor_id),
            Filter("vendor_invoice_number", "eq", bill["vendor_invoice_number"]),
            Filter("id", "ne", bill_id),
        ],
    )
    if same_number:
        found.add("duplicate_invoice")
    if bill["total"] > director_limit(adapter, bill["department_id"]):
        found.add("over_threshold")

    # 3-way match: purchase order, goods receipt, bill.
    if bill["purchase_order_id"] is None:
        found.add("no_po")
        return found
    receipts = adapter.query(
        "goods_receipt",
        fields=[],
        where=[Filter("purchase_order_id", "eq", bill["purchase_order_id"])],
    )
    if not receipts:
        found.add("missing_receipt")
    received = received_quantities(adapter, [receipt["id"] for receipt in receipts])
    expected_tax = Decimal("0.00")
    for line in lines_of(adapter, bill_id):
        ordered = adapter.read("po_line", line["po_line_id"], ["unit_price", "tax_rate"])
        if line["unit_price"] > ordered["unit_price"] * Decimal("1.02"):
            found.add("price_variance")
        if receipts and line["quantity"] > received.get(line["po_line_id"], 0):
            found.add("quantity_variance")
        line_tax = line["line_total"] * ordered["tax_rate"]
        expected_tax += line_tax.quantize(CENT, rounding=ROUND_HALF_UP)
    if bill["tax_amount"] != expected_tax:
        found.add("tax_mismatch")
    return found


# Seed


def test_erp_seed_is_deterministic(tmp_path: Path) -> None:
    dumps = []
    for name, seed in (("one", 7), ("two", 7), ("three", 8)):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        seed_sandbox(engine, anchor=ANCHOR, seed=seed, erp=True)
        dumps.append(erp_dump(SandboxAdapter(engine)))
        engine.dispose()
    assert dumps[0] == dumps[1]
    # The ERP book does not depend on the random seed of the CRM book.
    assert dumps[0] == dumps[2]


def test_erp_rows_identical_on_every_engine(adapter: SandboxAdapter, tmp_path: Path) -> None:
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    seed_sandbox(reference, anchor=ANCHOR, erp=True)
    assert erp_dump(adapter) == erp_dump(SandboxAdapter(reference))
    reference.dispose()


def test_erp_seed_summary_matches_rows(engine: Engine) -> None:
    summary = seed_sandbox(engine, anchor=ANCHOR, erp=True)
    adapter = SandboxAdapter(engine)
    for name, expected in summary.counts.items():
        assert len(adapter.query(name, fields=[], limit=10_000)) == expected, name
    assert summary.counts["user"] == 18
    assert summary.counts["vendor_bill"] == 11
    assert summary.counts["account"] == 30


def test_seed_without_erp_has_no_erp_rows(engine: Engine) -> None:
    summary = seed_sandbox(engine, anchor=ANCHOR, erp=False)
    adapter = SandboxAdapter(engine)
    assert not set(ERP_OBJECTS) & set(summary.counts)
    for name in ERP_OBJECTS:
        assert adapter.query(name, fields=[]) == [], name
    assert len(adapter.query("user", fields=[], limit=100)) == 10


def test_seed_erp_after_crm_seed(engine: Engine, tmp_path: Path) -> None:
    seed_sandbox(engine, anchor=ANCHOR, erp=False)
    counts = seed_erp(engine, anchor=ANCHOR)
    assert counts["user"] == 8
    assert counts["vendor_bill"] == 11

    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    seed_sandbox(reference, anchor=ANCHOR, erp=True)
    assert erp_dump(SandboxAdapter(engine)) == erp_dump(SandboxAdapter(reference))
    reference.dispose()

    with pytest.raises(ValueError, match="already"):
        seed_erp(engine, anchor=ANCHOR)


def test_seed_erp_needs_crm_users(engine: Engine) -> None:
    with pytest.raises(ValueError, match="usr_001, usr_003, usr_009"):
        seed_erp(engine, anchor=ANCHOR)
    assert SandboxAdapter(engine).query("vendor_bill", fields=[]) == []


def test_seed_replace_with_erp(engine: Engine) -> None:
    seed_sandbox(engine, anchor=ANCHOR, erp=True)
    summary = seed_sandbox(engine, anchor=ANCHOR, erp=True, replace=True)
    assert summary.counts["vendor_bill"] == 11
    assert len(SandboxAdapter(engine).query("vendor_bill", fields=[])) == 11


def test_erp_people_and_queues(adapter: SandboxAdapter) -> None:
    queues = {
        row["id"]: row["owner_id"] for row in adapter.query("work_queue", fields=["owner_id"])
    }
    assert set(queues) == {
        "que_procurement",
        "que_finance",
        "que_vendor_verification",
        "que_requester",
    }
    assert queues["que_requester"] is None
    roles = {
        "que_procurement": ("procurement@example.com", "procurement"),
        "que_finance": ("finance@example.com", "finance"),
        "que_vendor_verification": ("vendor-master@example.com", "vendor_master"),
    }
    for queue_id, (email, role) in roles.items():
        owner = adapter.read("user", queues[queue_id], ["email", "role", "active"])
        assert owner == {"email": email, "role": role, "active": True}, queue_id

    departments = adapter.query("department", fields=["owner_id"])
    assert len(departments) == 4
    for department in departments:
        head = adapter.read("user", department["owner_id"], ["active"])
        assert head["active"], department["id"]
        limits = adapter.query(
            "approval_threshold",
            fields=["role", "max_amount"],
            where=[Filter("department_id", "eq", department["id"])],
            order_by="max_amount",
        )
        assert [row["role"] for row in limits] == ["manager", "director", "finance"]
        bills = adapter.query(
            "vendor_bill",
            fields=["requester_id"],
            where=[Filter("department_id", "eq", department["id"])],
        )
        assert bills, department["id"]
        for bill in bills:
            requester = adapter.read("user", bill["requester_id"], ["manager_id", "active"])
            assert requester == {"manager_id": department["owner_id"], "active": True}


# Scenarios


@pytest.mark.parametrize(("scenario", "bill_id"), sorted(ERP_SCENARIO_BILLS.items()))
def test_scenario_bill_shows_its_exception(
    adapter: SandboxAdapter, scenario: str, bill_id: str
) -> None:
    expected = set() if scenario == "control" else {scenario}
    assert detect_exceptions(adapter, bill_id) == expected
    bill = adapter.read("vendor_bill", bill_id, ["match_status", "exception_type"])
    if scenario == "control":
        assert bill == {"match_status": "matched", "exception_type": None}
    else:
        assert bill == {"match_status": "unmatched", "exception_type": scenario}


def test_every_bill_label_matches_rows(adapter: SandboxAdapter) -> None:
    bills = adapter.query("vendor_bill", fields=["exception_type", "match_status"])
    assert len(bills) == 11
    for bill in bills:
        label = bill["exception_type"]
        expected = set() if label is None else {label}
        assert detect_exceptions(adapter, bill["id"]) == expected, bill["id"]
        assert (bill["match_status"] == "matched") == (label is None), bill["id"]
    assert set(ERP_SCENARIO_BILLS) == EXCEPTION_TYPES | {"control"}


def test_every_bill_adds_up(adapter: SandboxAdapter) -> None:
    for bill in adapter.query("vendor_bill", fields=BILL_FIELDS):
        lines = lines_of(adapter, bill["id"])
        terms = adapter.read("vendor", bill["vendor_id"], ["payment_terms"])["payment_terms"]
        for line in lines:
            assert line["line_total"] == line["quantity"] * line["unit_price"], bill["id"]
        assert bill["subtotal"] == sum(line["line_total"] for line in lines), bill["id"]
        assert bill["total"] == bill["subtotal"] + bill["tax_amount"], bill["id"]
        assert bill["due_date"] - bill["bill_date"] == timedelta(days=int(terms[3:])), bill["id"]
        assert ANCHOR - timedelta(days=30) <= bill["bill_date"] <= ANCHOR, bill["id"]
        assert bill["review_status"] is None, bill["id"]


def test_scenario_price_variance_size(adapter: SandboxAdapter) -> None:
    line = lines_of(adapter, ERP_SCENARIO_BILLS["price_variance"])[0]
    ordered = adapter.read("po_line", line["po_line_id"], ["unit_price"])
    assert line["unit_price"] / ordered["unit_price"] == Decimal("1.0625")


def test_scenario_duplicate_pair(adapter: SandboxAdapter) -> None:
    bill_id = ERP_SCENARIO_BILLS["duplicate_invoice"]
    bill = adapter.read("vendor_bill", bill_id, ["vendor_id", "vendor_invoice_number"])
    pair = adapter.query(
        "vendor_bill",
        fields=["bill_date", "total"],
        where=[
            Filter("vendor_id", "eq", bill["vendor_id"]),
            Filter("vendor_invoice_number", "eq", bill["vendor_invoice_number"]),
        ],
        order_by="bill_date",
    )
    assert [row["id"] for row in pair] == ["bill_005", bill_id]
    assert pair[0]["total"] == pair[1]["total"]


def test_scenario_new_vendor(adapter: SandboxAdapter) -> None:
    bill = adapter.read("vendor_bill", ERP_SCENARIO_BILLS["new_vendor"], ["vendor_id"])
    vendor = adapter.read("vendor", bill["vendor_id"], VENDOR_FIELDS)
    assert vendor["status"] == "new"
    assert ANCHOR - vendor["created_date"] <= timedelta(days=30)
    assert vendor["tax_id_present"] is False
    assert vendor["tax_id"] is None
    others = adapter.query(
        "vendor", fields=["created_date"], where=[Filter("id", "ne", bill["vendor_id"])]
    )
    assert all(ANCHOR - row["created_date"] > timedelta(days=30) for row in others)


def test_scenario_bank_change_request(adapter: SandboxAdapter) -> None:
    bill = adapter.read(
        "vendor_bill", ERP_SCENARIO_BILLS["bank_change_request"], ["vendor_id", "memo"]
    )
    assert "new bank details" in bill["memo"]
    changes = adapter.query(
        "vendor_bank_change",
        fields=["requested_at", "old_account_masked", "new_account_masked", "status", "source"],
        where=[Filter("vendor_id", "eq", bill["vendor_id"])],
    )
    assert len(changes) == 1
    change = changes[0]
    vendor = adapter.read("vendor", bill["vendor_id"], ["remit_bank_account"])
    assert change["status"] == "pending"
    assert change["source"] == "bill_memo"
    assert change["old_account_masked"] == vendor["remit_bank_account"]
    assert change["new_account_masked"][-4:] in bill["memo"]
    assert change["requested_at"].utcoffset() == timedelta(0)


def test_scenario_over_threshold_amount(adapter: SandboxAdapter) -> None:
    bill = adapter.read(
        "vendor_bill", ERP_SCENARIO_BILLS["over_threshold"], ["department_id", "total"]
    )
    assert bill["total"] == Decimal("58130.25")
    assert director_limit(adapter, bill["department_id"]) == Decimal("50000.00")
    finance = adapter.query(
        "approval_threshold",
        fields=["max_amount"],
        where=[
            Filter("department_id", "eq", bill["department_id"]),
            Filter("role", "eq", "finance"),
        ],
    )
    assert finance[0]["max_amount"] >= bill["total"]


def test_scenario_no_po_lines(adapter: SandboxAdapter) -> None:
    bill_id = ERP_SCENARIO_BILLS["no_po"]
    assert adapter.read("vendor_bill", bill_id, ["purchase_order_id"]) == {
        "purchase_order_id": None
    }
    lines = lines_of(adapter, bill_id)
    assert lines
    assert all(line["po_line_id"] is None for line in lines)


# Reads and queries


def test_erp_reads_return_typed_values(adapter: SandboxAdapter) -> None:
    po_line = adapter.read("po_line", "pol_001", ["quantity", "unit_price", "tax_rate", "line_no"])
    vendor = adapter.read("vendor", "ven_005", VENDOR_FIELDS)
    bill = adapter.read("vendor_bill", "bill_001", BILL_FIELDS)
    change = adapter.read("vendor_bank_change", "vbc_002", ["requested_at"])
    assert po_line == {
        "quantity": Decimal("10"),
        "unit_price": Decimal("188.00"),
        "tax_rate": Decimal("0.0825"),
        "line_no": 1,
    }
    assert type(vendor["created_date"]) is date
    assert vendor["created_date"] == ANCHOR - timedelta(days=12)
    assert type(bill["posted"]) is bool
    assert bill["posted"] is True
    assert isinstance(change["requested_at"], datetime)
    assert change["requested_at"] == datetime(2026, 11, 28, 14, 32, tzinfo=UTC)


def test_erp_query_filters(adapter: SandboxAdapter) -> None:
    unmatched = adapter.query(
        "vendor_bill", fields=[], where=[Filter("match_status", "eq", "unmatched")]
    )
    large = adapter.query("vendor_bill", fields=[], where=[Filter("total", "gt", 50_000)])
    taxed = adapter.query("po_line", fields=[], where=[Filter("tax_rate", "eq", Decimal("0.0825"))])
    all_receipt_lines = adapter.query("receipt_line", fields=["quantity_received"])
    small = adapter.query(
        "receipt_line",
        fields=["quantity_received"],
        where=[Filter("quantity_received", "lt", Decimal("30.001"))],
    )
    assert len(unmatched) == 10
    assert [row["id"] for row in large] == ["bill_010"]
    assert len(taxed) == 13
    assert small == [row for row in all_receipt_lines if row["quantity_received"] <= 30]
    assert len(small) == 11
    with pytest.raises(RejectedByTarget, match="at most 4 decimal places"):
        adapter.query("po_line", fields=[], where=[Filter("tax_rate", "eq", Decimal("0.08255"))])
    with pytest.raises(UnknownField, match="iban"):
        adapter.query("vendor", fields=["iban"])


def test_erp_query_selects_only_named_columns(adapter: SandboxAdapter) -> None:
    statements: list[str] = []

    def capture(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(statement)

    event.listen(adapter.engine, "before_cursor_execute", capture)
    try:
        rows = adapter.query("vendor", fields=["name", "status"])
    finally:
        event.remove(adapter.engine, "before_cursor_execute", capture)
    assert [set(row) for row in rows] == [{"id", "name", "status"}] * 8
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert "*" not in selects[0]
    assert "remit_bank_account" not in selects[0]
    assert "tax_id" not in selects[0]


# Writes


def test_update_review_status_and_revert(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {"review_status": TextValue(value="in_review")}
    result = adapter.apply(
        write_request(Operation.UPDATE, "vendor_bill", fields, record_id="bill_002")
    )
    assert result.applied
    assert result.rollback is not None
    assert result.rollback.before_image == {"review_status": NullValue()}
    assert adapter.read("vendor_bill", "bill_002", ["review_status"]) == {
        "review_status": "in_review"
    }

    adapter.revert(result)
    assert adapter.read("vendor_bill", "bill_002", ["review_status"]) == {"review_status": None}


def test_revert_review_status_after_later_edit(adapter: SandboxAdapter) -> None:
    ours = write_request(
        Operation.UPDATE,
        "vendor_bill",
        {"review_status": TextValue(value="in_review")},
        record_id="bill_003",
    )
    theirs = write_request(
        Operation.UPDATE,
        "vendor_bill",
        {"review_status": TextValue(value="routed")},
        record_id="bill_003",
    )
    result = adapter.apply(ours)
    adapter.apply(theirs)
    with pytest.raises(Conflict, match="review_status"):
        adapter.revert(result)
    assert adapter.read("vendor_bill", "bill_003", ["review_status"]) == {"review_status": "routed"}


@pytest.mark.parametrize(
    ("fields", "record_id", "error", "message"),
    [
        ({"review_status": TextValue(value="approved")}, "bill_002", RejectedByTarget, "allowed"),
        ({"review_status": TextValue(value="paid")}, "bill_002", RejectedByTarget, "allowed"),
        ({"review_status": NullValue()}, "bill_002", RejectedByTarget, "cannot be cleared"),
        ({"match_status": TextValue(value="ok")}, "bill_002", RejectedByTarget, "allowed"),
        ({"exception_type": TextValue(value="fraud")}, "bill_002", RejectedByTarget, "allowed"),
        ({"posted": TextValue(value="yes")}, "bill_002", RejectedByTarget, "boolean"),
        ({"vendor_id": TextValue(value="ven_404")}, "bill_002", RejectedByTarget, "ven_404"),
        ({"requester_id": TextValue(value="usr_404")}, "bill_002", RejectedByTarget, "usr_404"),
        ({"id": TextValue(value="bill_x")}, "bill_002", RejectedByTarget, "read-only"),
        ({"approver": TextValue(value="x")}, "bill_002", UnknownField, "approver"),
        ({"review_status": TextValue(value="routed")}, "bill_404", RecordNotFound, "bill_404"),
    ],
)
def test_update_vendor_bill_rejects_invalid(
    adapter: SandboxAdapter,
    fields: dict[str, ScalarValue],
    record_id: str,
    error: type[Exception],
    message: str,
) -> None:
    before = adapter.read("vendor_bill", "bill_002", BILL_FIELDS)
    request = write_request(Operation.UPDATE, "vendor_bill", fields, record_id=record_id)
    with pytest.raises(error, match=message):
        adapter.apply(request)
    assert adapter.find_applied(request.idempotency_key) is None
    assert adapter.read("vendor_bill", "bill_002", BILL_FIELDS) == before


@pytest.mark.parametrize("target", ["po_line", "purchase_order", "bill_line", "vendor_bank_change"])
def test_update_other_erp_objects_not_supported(adapter: SandboxAdapter, target: str) -> None:
    request = write_request(
        Operation.UPDATE, target, {"item": TextValue(value="x")}, record_id="x_001"
    )
    with pytest.raises(RejectedByTarget, match="not supported"):
        adapter.apply(request)


def test_sandbox_applies_vendor_update(adapter: SandboxAdapter) -> None:
    # A real ERP accepts this call, so the sandbox does too; the lane's policy must block it.
    before = adapter.read("vendor", "ven_004", VENDOR_FIELDS)
    fields: dict[str, ScalarValue] = {
        "remit_bank_account": TextValue(value="****5592"),
        "tax_id": NullValue(),
        "tax_id_present": BooleanValue(value=False),
        "status": TextValue(value="on_hold"),
    }
    result = adapter.apply(write_request(Operation.UPDATE, "vendor", fields, record_id="ven_004"))
    assert result.applied
    assert result.rollback is not None
    assert result.rollback.before_image == {
        "remit_bank_account": TextValue(value="****7310"),
        "tax_id": TextValue(value=before["tax_id"]),
        "tax_id_present": BooleanValue(value=True),
        "status": TextValue(value="active"),
    }
    after = adapter.read("vendor", "ven_004", list(fields))
    assert after == {
        "remit_bank_account": "****5592",
        "tax_id": None,
        "tax_id_present": False,
        "status": "on_hold",
    }

    adapter.revert(result)
    assert adapter.read("vendor", "ven_004", VENDOR_FIELDS) == before


def test_sandbox_applies_payment_fields_of_bill(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {
        "posted": BooleanValue(value=True),
        "payment_hold": BooleanValue(value=False),
        "due_date": DateValue(value=ANCHOR),
    }
    result = adapter.apply(
        write_request(Operation.UPDATE, "vendor_bill", fields, record_id="bill_008")
    )
    assert adapter.read("vendor_bill", "bill_008", list(fields)) == {
        "posted": True,
        "payment_hold": False,
        "due_date": ANCHOR,
    }
    adapter.revert(result)
    assert adapter.read("vendor_bill", "bill_008", ["posted", "payment_hold"]) == {
        "posted": False,
        "payment_hold": True,
    }


def test_vendor_update_rejects_bad_status(adapter: SandboxAdapter) -> None:
    request = write_request(
        Operation.UPDATE, "vendor", {"status": TextValue(value="trusted")}, record_id="ven_004"
    )
    with pytest.raises(RejectedByTarget, match="allowed values"):
        adapter.apply(request)
    assert adapter.read("vendor", "ven_004", ["status"]) == {"status": "active"}


def test_task_and_note_on_bill(adapter: SandboxAdapter) -> None:
    task_fields: dict[str, ScalarValue] = {
        "what_id": TextValue(value="bill_008"),
        "owner_id": TextValue(value="usr_012"),
        "subject": TextValue(value="Verify the bank change requested in the bill memo"),
        "due_date": DateValue(value=ANCHOR + timedelta(days=2)),
    }
    note_fields: dict[str, ScalarValue] = {
        "parent_id": TextValue(value="bill_008"),
        "title": TextValue(value="Triage"),
        "body": TextValue(value="Routed to vendor verification."),
    }
    task = adapter.apply(write_request(Operation.CREATE, "task", task_fields))
    note = adapter.apply(write_request(Operation.CREATE, "note", note_fields))
    assert task.target_record_id is not None
    assert note.target_record_id is not None
    assert adapter.read("task", task.target_record_id, ["what_id", "account_id", "owner_id"]) == {
        "what_id": "bill_008",
        "account_id": None,
        "owner_id": "usr_012",
    }
    assert adapter.read("note", note.target_record_id, ["parent_id", "account_id"]) == {
        "parent_id": "bill_008",
        "account_id": None,
    }

    adapter.revert(task)
    assert adapter.query("task", fields=[], where=[Filter("what_id", "eq", "bill_008")]) == []


def test_task_on_missing_bill_rejected(adapter: SandboxAdapter) -> None:
    fields: dict[str, ScalarValue] = {
        "what_id": TextValue(value="bill_404"),
        "owner_id": TextValue(value="usr_011"),
        "subject": TextValue(value="Check the price"),
        "due_date": DateValue(value=ANCHOR),
    }
    with pytest.raises(RejectedByTarget, match="bill_404"):
        adapter.apply(write_request(Operation.CREATE, "task", fields))


def test_erp_writes_are_idempotent(adapter: SandboxAdapter) -> None:
    update = write_request(
        Operation.UPDATE,
        "vendor_bill",
        {"review_status": TextValue(value="awaiting_info")},
        record_id="bill_004",
    )
    first = adapter.apply(update)
    second = adapter.apply(update)
    assert second.already_applied
    assert second.rollback == first.rollback
    assert second.applied_at == first.applied_at

    task = write_request(
        Operation.CREATE,
        "task",
        {
            "what_id": TextValue(value="bill_004"),
            "owner_id": TextValue(value="usr_003"),
            "subject": TextValue(value="Confirm the chairs were delivered"),
            "due_date": DateValue(value=ANCHOR + timedelta(days=3)),
        },
    )
    created = adapter.apply(task)
    again = adapter.apply(task)
    assert again.already_applied
    assert again.target_record_id == created.target_record_id
    assert len(adapter.query("task", fields=[], where=[Filter("what_id", "eq", "bill_004")])) == 1


def test_erp_dry_run_writes_nothing(adapter: SandboxAdapter) -> None:
    request = write_request(
        Operation.UPDATE,
        "vendor_bill",
        {"review_status": TextValue(value="routed")},
        record_id="bill_007",
        dry_run=True,
    )
    result = adapter.apply(request)
    assert not result.applied
    assert adapter.read("vendor_bill", "bill_007", ["review_status"]) == {"review_status": None}
    assert adapter.find_applied(request.idempotency_key) is None
