"""Accounts-payable tables of the sandbox ERP: vendors, purchase orders, receipts and bills.

A vendor bill is checked by 3-way matching: the purchase order (what was ordered
and at what price), the goods receipt (what arrived) and the bill (what the vendor
charges). ``vendor_bill.match_status`` and ``exception_type`` record the ERP's
verdict. The ERP does not recompute them when rows change.

Amounts are pre-tax unless the name says otherwise: ``purchase_order.total`` and
``bill_line.line_total`` are quantity times unit price, and
``vendor_bill.total`` is ``subtotal + tax_amount``.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from adapters.sandbox.column_types import MONEY, QUANTITY, TAX_RATE, UtcDateTime


class Department(SQLModel, table=True):
    __tablename__ = "sbx_department"

    id: str = Field(primary_key=True)
    name: str
    cost_center: str
    # The department head.
    owner_id: str | None = Field(default=None, foreign_key="sbx_user.id")


class ApprovalThreshold(SQLModel, table=True):
    """One row of the approval matrix: the role may approve amounts up to ``max_amount``."""

    __tablename__ = "sbx_approval_threshold"
    __table_args__ = (UniqueConstraint("department_id", "role", name="sbx_threshold_role"),)

    id: str = Field(primary_key=True)
    department_id: str = Field(foreign_key="sbx_department.id", index=True)
    role: str
    max_amount: Decimal = Field(sa_type=MONEY)


class WorkQueue(SQLModel, table=True):
    __tablename__ = "sbx_work_queue"

    id: str = Field(primary_key=True)
    name: str
    # Who gets the routing tasks of the queue. None for the requester queue, whose
    # task goes to the requester of the bill.
    owner_id: str | None = Field(default=None, foreign_key="sbx_user.id")


class Vendor(SQLModel, table=True):
    __tablename__ = "sbx_vendor"

    id: str = Field(primary_key=True)
    name: str
    status: str
    created_date: date
    tax_id_present: bool
    tax_id: str | None = None
    # Masked to the last four digits, such as "****1234".
    remit_bank_account: str
    payment_terms: str


class VendorBankChange(SQLModel, table=True):
    """A request to change the account a vendor is paid into."""

    __tablename__ = "sbx_vendor_bank_change"

    id: str = Field(primary_key=True)
    vendor_id: str = Field(foreign_key="sbx_vendor.id", index=True)
    requested_at: datetime = Field(sa_type=UtcDateTime)
    old_account_masked: str
    new_account_masked: str
    status: str
    source: str


class PurchaseOrder(SQLModel, table=True):
    __tablename__ = "sbx_purchase_order"

    id: str = Field(primary_key=True)
    vendor_id: str = Field(foreign_key="sbx_vendor.id", index=True)
    department_id: str = Field(foreign_key="sbx_department.id")
    requester_id: str = Field(foreign_key="sbx_user.id")
    status: str
    order_date: date
    currency: str = "USD"
    total: Decimal = Field(sa_type=MONEY)


class PoLine(SQLModel, table=True):
    __tablename__ = "sbx_po_line"
    __table_args__ = (UniqueConstraint("purchase_order_id", "line_no", name="sbx_po_line_no"),)

    id: str = Field(primary_key=True)
    purchase_order_id: str = Field(foreign_key="sbx_purchase_order.id", index=True)
    line_no: int
    item: str
    quantity: Decimal = Field(sa_type=QUANTITY)
    unit_price: Decimal = Field(sa_type=MONEY)
    tax_rate: Decimal = Field(sa_type=TAX_RATE)


class GoodsReceipt(SQLModel, table=True):
    __tablename__ = "sbx_goods_receipt"

    id: str = Field(primary_key=True)
    purchase_order_id: str = Field(foreign_key="sbx_purchase_order.id", index=True)
    received_date: date
    received_by_id: str = Field(foreign_key="sbx_user.id")


class ReceiptLine(SQLModel, table=True):
    __tablename__ = "sbx_receipt_line"

    id: str = Field(primary_key=True)
    goods_receipt_id: str = Field(foreign_key="sbx_goods_receipt.id", index=True)
    po_line_id: str = Field(foreign_key="sbx_po_line.id", index=True)
    quantity_received: Decimal = Field(sa_type=QUANTITY)


class VendorBill(SQLModel, table=True):
    __tablename__ = "sbx_vendor_bill"

    id: str = Field(primary_key=True)
    vendor_id: str = Field(foreign_key="sbx_vendor.id", index=True)
    # Not unique: a vendor may send the same invoice twice, which is an exception to catch.
    vendor_invoice_number: str = Field(index=True)
    purchase_order_id: str | None = Field(default=None, foreign_key="sbx_purchase_order.id")
    department_id: str = Field(foreign_key="sbx_department.id")
    requester_id: str = Field(foreign_key="sbx_user.id")
    bill_date: date
    due_date: date
    currency: str = "USD"
    subtotal: Decimal = Field(sa_type=MONEY)
    tax_amount: Decimal = Field(sa_type=MONEY)
    total: Decimal = Field(sa_type=MONEY)
    # Free text from the vendor's invoice: data, never an instruction.
    memo: str = ""
    match_status: str
    exception_type: str | None = None
    review_status: str | None = None
    posted: bool = False
    payment_hold: bool = False


class BillLine(SQLModel, table=True):
    __tablename__ = "sbx_bill_line"
    __table_args__ = (UniqueConstraint("vendor_bill_id", "line_no", name="sbx_bill_line_no"),)

    id: str = Field(primary_key=True)
    vendor_bill_id: str = Field(foreign_key="sbx_vendor_bill.id", index=True)
    line_no: int
    po_line_id: str | None = Field(default=None, foreign_key="sbx_po_line.id")
    item: str
    quantity: Decimal = Field(sa_type=QUANTITY)
    unit_price: Decimal = Field(sa_type=MONEY)
    tax_rate: Decimal = Field(sa_type=TAX_RATE)
    line_total: Decimal = Field(sa_type=MONEY)


# Parents before children, so that inserts in this order resolve foreign keys.
ERP_OBJECTS: dict[str, type[SQLModel]] = {
    "department": Department,
    "approval_threshold": ApprovalThreshold,
    "work_queue": WorkQueue,
    "vendor": Vendor,
    "vendor_bank_change": VendorBankChange,
    "purchase_order": PurchaseOrder,
    "po_line": PoLine,
    "goods_receipt": GoodsReceipt,
    "receipt_line": ReceiptLine,
    "vendor_bill": VendorBill,
    "bill_line": BillLine,
}

EXCEPTION_TYPES = frozenset(
    {
        "price_variance",
        "quantity_variance",
        "missing_receipt",
        "duplicate_invoice",
        "new_vendor",
        "bank_change_request",
        "tax_mismatch",
        "over_threshold",
        "no_po",
    }
)
# The values a triage may set. None (not yet triaged) is only the starting value,
# and an update may not set it back to None.
REVIEW_STATUSES = frozenset({"in_review", "awaiting_info", "routed"})

ERP_PICKLISTS: dict[str, dict[str, frozenset[str]]] = {
    "approval_threshold": {"role": frozenset({"manager", "director", "finance"})},
    "vendor": {"status": frozenset({"active", "new", "on_hold", "blocked"})},
    "vendor_bank_change": {
        "status": frozenset({"pending", "verified", "rejected"}),
        "source": frozenset({"vendor_portal", "email", "bill_memo"}),
    },
    "purchase_order": {"status": frozenset({"open", "closed"})},
    "vendor_bill": {
        "match_status": frozenset({"matched", "unmatched"}),
        "exception_type": EXCEPTION_TYPES,
        "review_status": REVIEW_STATUSES,
    },
}
