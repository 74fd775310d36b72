"""Context and sweep of the invoice-exception lane.

The context is one unmatched vendor bill with its purchase order, receipts,
vendor status, department, requester and approval matrix, plus the matching
checks computed from them. Vendor bank accounts and tax ids are not declared,
so they are never read.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

from activities.scan_events import scan_event
from activities.scoped_reader import ScopedReader
from adapters.base import Filter, Row, SystemOfRecord
from contracts import (
    ContextBundle,
    ContextField,
    EventEnvelope,
    RecordRef,
    ScanInput,
    SourceRef,
)
from contracts.values import RecordsValue, to_value

# Billed unit prices may exceed the PO price by this many percent before the
# bill counts as a price variance.
PRICE_TOLERANCE_PCT = Decimal("2")
NEW_VENDOR_DAYS = 30
CENT = Decimal("0.01")
BANK_DETAILS = re.compile(
    r"bank (details|account)|remit(tance)? (to|account)|new account|\biban\b|routing number|"
    r"wire (to|transfer)",
    re.IGNORECASE,
)
QUEUES = {
    "queue_owner_procurement": "que_procurement",
    "queue_owner_finance": "que_finance",
    "queue_owner_vendor_verification": "que_vendor_verification",
}


class _Fields:
    def __init__(self, reader: ScopedReader) -> None:
        self.reader = reader
        self.values: dict[str, ContextField] = {}
        self.missing: list[str] = []

    def put(self, name: str, raw: object, *sources: SourceRef, untrusted: bool = False) -> None:
        value = to_value(raw, untrusted=untrusted)
        if raw is None:
            self.missing.append(name)
        self.values[name] = ContextField(value=value, sources=list(sources))

    def put_rows(self, name: str, rows: list[dict[str, object]], *sources: SourceRef) -> None:
        typed = [{key: to_value(raw) for key, raw in row.items()} for row in rows]
        self.values[name] = ContextField(value=RecordsValue(rows=typed), sources=list(sources))


def build_context(reader: ScopedReader, event: EventEnvelope, now: datetime) -> ContextBundle:
    """Read the bill named by the event and compute its 3-way match checks."""
    src = reader.source
    out = _Fields(reader)
    bill_id = event.source_record_id
    bill = reader.read("vendor_bill", bill_id, reader.declared("vendor_bill"))
    in_scope = [RecordRef(system=reader.system, object="vendor_bill", id=bill_id)]

    for name in (
        "vendor_invoice_number",
        "bill_date",
        "due_date",
        "currency",
        "match_status",
        "exception_type",
        "review_status",
        "posted",
    ):
        out.put(name, bill[name], src("vendor_bill", bill_id, name))
    out.put("bill_total", bill["total"], src("vendor_bill", bill_id, "total"))
    out.put("bill_subtotal", bill["subtotal"], src("vendor_bill", bill_id, "subtotal"))
    out.put("bill_tax_amount", bill["tax_amount"], src("vendor_bill", bill_id, "tax_amount"))
    out.put("memo", bill["memo"] or "", src("vendor_bill", bill_id, "memo"), untrusted=True)

    _vendor(out, bill, bill_id, now)
    _people(out, bill, bill_id, in_scope)
    lines = reader.query(
        "bill_line",
        fields=[
            "line_no",
            "po_line_id",
            "item",
            "quantity",
            "unit_price",
            "tax_rate",
            "line_total",
        ],
        where=[Filter("vendor_bill_id", "eq", bill_id)],
        order_by="line_no",
    )
    _match(out, bill, bill_id, lines)
    _duplicates(out, bill, bill_id)
    _threshold(out, bill, bill_id)

    return ContextBundle(
        lane=event.workflow,
        subject=RecordRef(system=reader.system, object="vendor_bill", id=bill_id),
        fields=out.values,
        missing=sorted(set(out.missing)),
        fetched_at=reader.fetched_at,
        records_in_scope=in_scope,
    )


def _vendor(out: _Fields, bill: Row, bill_id: str, now: datetime) -> None:
    src = out.reader.source
    vendor_id = str(bill["vendor_id"])
    vendor = out.reader.read(
        "vendor", vendor_id, ["name", "status", "created_date", "tax_id_present"]
    )
    out.put("vendor_id", vendor_id, src("vendor_bill", bill_id, "vendor_id"))
    out.put("vendor_name", vendor["name"], src("vendor", vendor_id, "name"))
    out.put("vendor_status", vendor["status"], src("vendor", vendor_id, "status"))
    out.put("vendor_created_date", vendor["created_date"], src("vendor", vendor_id, "created_date"))
    out.put(
        "vendor_tax_id_present",
        vendor["tax_id_present"],
        src("vendor", vendor_id, "tax_id_present"),
    )
    created = vendor["created_date"]
    recent = isinstance(created, date) and (now.date() - created).days <= NEW_VENDOR_DAYS
    out.put(
        "vendor_is_new",
        vendor["status"] == "new" or recent,
        src("vendor", vendor_id, "status"),
        src("vendor", vendor_id, "created_date"),
    )

    changes = out.reader.query(
        "vendor_bank_change",
        fields=["status", "source", "requested_at"],
        where=[Filter("vendor_id", "eq", vendor_id), Filter("status", "eq", "pending")],
    )
    change_sources = [src("vendor_bank_change", str(c["id"]), "status") for c in changes]
    out.put_rows(
        "pending_bank_changes",
        [{k: c[k] for k in ("id", "source", "requested_at")} for c in changes],
        *(change_sources or [src("vendor", vendor_id, "id")]),
    )
    memo_asks = bool(BANK_DETAILS.search(str(bill["memo"] or "")))
    out.put(
        "bank_change_requested",
        memo_asks or bool(changes),
        src("vendor_bill", bill_id, "memo"),
        *change_sources,
    )


def _people(out: _Fields, bill: Row, bill_id: str, in_scope: list[RecordRef]) -> None:
    src = out.reader.source
    requester_id = str(bill["requester_id"])
    requester = out.reader.read("user", requester_id, ["name", "email", "active"])
    out.put("requester_id", requester_id, src("vendor_bill", bill_id, "requester_id"))
    out.put("requester_name", requester["name"], src("user", requester_id, "name"))
    out.put("requester_email", requester["email"], src("user", requester_id, "email"))
    in_scope.append(RecordRef(system=out.reader.system, object="user", id=requester_id))
    for field, queue_id in QUEUES.items():
        queue = out.reader.read("work_queue", queue_id, ["owner_id"])
        owner = queue["owner_id"]
        out.put(field, owner, src("work_queue", queue_id, "owner_id"))
        if isinstance(owner, str):
            in_scope.append(RecordRef(system=out.reader.system, object="user", id=owner))


def _match(out: _Fields, bill: Row, bill_id: str, lines: list[Row]) -> None:
    """Compare bill lines with PO lines and receipts: price, quantity, tax."""
    src = out.reader.source
    po_id = bill["purchase_order_id"]
    out.put("purchase_order_id", po_id, src("vendor_bill", bill_id, "purchase_order_id"))
    out.put("no_po", po_id is None, src("vendor_bill", bill_id, "purchase_order_id"))
    po_lines: dict[str, Row] = {}
    received: dict[str, Decimal] = {}
    has_receipt = False
    if isinstance(po_id, str):
        for po_row in out.reader.query(
            "po_line",
            fields=["line_no", "quantity", "unit_price", "tax_rate"],
            where=[Filter("purchase_order_id", "eq", po_id)],
        ):
            po_lines[str(po_row["id"])] = po_row
        receipts = out.reader.query(
            "goods_receipt",
            fields=["received_date"],
            where=[Filter("purchase_order_id", "eq", po_id)],
        )
        has_receipt = bool(receipts)
        for receipt in receipts:
            for receipt_row in out.reader.query(
                "receipt_line",
                fields=["po_line_id", "quantity_received"],
                where=[Filter("goods_receipt_id", "eq", str(receipt["id"]))],
            ):
                key = str(receipt_row["po_line_id"])
                quantity_received = Decimal(str(receipt_row["quantity_received"]))
                received[key] = received.get(key, Decimal(0)) + quantity_received
    out.put(
        "missing_receipt",
        isinstance(po_id, str) and not has_receipt,
        src("purchase_order", str(po_id), "id"),
    )

    comparison: list[dict[str, object]] = []
    max_variance = Decimal(0)
    over_received = Decimal(0)
    expected_tax = Decimal(0)
    for line in lines:
        po_line = po_lines.get(str(line["po_line_id"]))
        quantity = Decimal(str(line["quantity"]))
        unit_price = Decimal(str(line["unit_price"]))
        rate = Decimal(str(po_line["tax_rate"] if po_line else line["tax_rate"]))
        expected_tax += Decimal(str(line["line_total"])) * rate
        compared: dict[str, object] = {
            "line_no": line["line_no"],
            "item": line["item"],
            "billed_quantity": quantity,
            "billed_unit_price": unit_price,
            "po_unit_price": None,
            "received_quantity": None,
        }
        if po_line is not None:
            po_price = Decimal(str(po_line["unit_price"]))
            compared["po_unit_price"] = po_price
            if po_price > 0:
                max_variance = max(max_variance, (unit_price - po_price) / po_price * 100)
            if has_receipt:
                got = received.get(str(line["po_line_id"]), Decimal(0))
                compared["received_quantity"] = got
                over_received += max(Decimal(0), quantity - got)
        comparison.append(compared)
    line_sources = [src("bill_line", str(line["id"]), "unit_price") for line in lines] or [
        src("vendor_bill", bill_id, "id")
    ]
    out.put_rows("line_comparison", comparison, *line_sources)
    variance = max_variance.quantize(CENT)
    out.put("max_price_variance_pct", variance, *line_sources)
    out.put("quantity_over_received", over_received, *line_sources)
    tax_difference = (Decimal(str(bill["tax_amount"])) - expected_tax).quantize(CENT)
    out.put("expected_tax", expected_tax.quantize(CENT), *line_sources)
    out.put("tax_difference", tax_difference, src("vendor_bill", bill_id, "tax_amount"))
    out.put("tax_flag", abs(tax_difference) > CENT, src("vendor_bill", bill_id, "tax_amount"))
    mismatch = (
        po_id is None
        or (isinstance(po_id, str) and not has_receipt)
        or variance > PRICE_TOLERANCE_PCT
        or over_received > 0
    )
    out.put("po_mismatch", mismatch, *line_sources)


def _duplicates(out: _Fields, bill: Row, bill_id: str) -> None:
    src = out.reader.source
    rows = out.reader.query(
        "vendor_bill",
        fields=["bill_date", "total"],
        where=[
            Filter("vendor_id", "eq", bill["vendor_id"]),
            Filter("vendor_invoice_number", "eq", bill["vendor_invoice_number"]),
            Filter("id", "ne", bill_id),
        ],
    )
    out.put_rows(
        "duplicate_bills",
        [{k: dup[k] for k in ("id", "bill_date", "total")} for dup in rows],
        *(
            [src("vendor_bill", str(row["id"]), "vendor_invoice_number") for row in rows]
            or [src("vendor_bill", bill_id, "vendor_invoice_number")]
        ),
    )


def _threshold(out: _Fields, bill: Row, bill_id: str) -> None:
    src = out.reader.source
    department_id = str(bill["department_id"])
    department = out.reader.read("department", department_id, ["name", "owner_id"])
    out.put("department_id", department_id, src("vendor_bill", bill_id, "department_id"))
    out.put("department_name", department["name"], src("department", department_id, "name"))
    rows = out.reader.query(
        "approval_threshold",
        fields=["role", "max_amount"],
        where=[Filter("department_id", "eq", department_id), Filter("role", "ne", "finance")],
    )
    # Above the highest limit a department may approve itself, finance must approve.
    limit = max((Decimal(str(row["max_amount"])) for row in rows), default=None)
    sources = [src("approval_threshold", str(row["id"]), "max_amount") for row in rows] or [
        src("department", department_id, "id")
    ]
    out.put("department_threshold", limit, *sources)
    total = Decimal(str(bill["total"]))
    out.put("over_department_threshold", limit is not None and total > limit, *sources)


def scan_unmatched_bills(
    system: SystemOfRecord, input: ScanInput, correlation_id: str
) -> list[EventEnvelope]:
    """Return one ``match_exception`` event per unmatched bill not yet triaged.

    The idempotency key is the source system and its instance, the bill and its
    exception type, so a bill is triaged once per exception the ERP flags.
    """
    as_of = input.as_of or datetime.now(UTC).date()
    rows = system.query(
        "vendor_bill",
        fields=["exception_type", "bill_date"],
        where=[Filter("match_status", "eq", "unmatched"), Filter("review_status", "is_null")],
        order_by="bill_date",
        limit=5000,
    )
    return [
        scan_event(
            system,
            lane=input.lane,
            event_type="erp.vendor_bill.match_exception",
            record_type="vendor_bill",
            record_id=str(row["id"]),
            key_suffix=str(row["exception_type"] or "unknown"),
            as_of=as_of,
            correlation_id=correlation_id,
        )
        for row in rows
    ]
