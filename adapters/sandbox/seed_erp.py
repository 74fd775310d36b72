"""Seeding of the accounts-payable ERP book that ``seed_erp_scenarios`` describes.

``seed_sandbox(..., erp=True)`` adds the book in the same transaction as the CRM
book. ``seed_erp`` adds it to a sandbox that already contains the CRM book. Either way
the rows depend only on the anchor date.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, Engine, func, insert, select

from adapters.sandbox.db import create_schema
from adapters.sandbox.fields import object_table
from adapters.sandbox.models_erp import ERP_OBJECTS
from adapters.sandbox.seed_erp_scenarios import (
    APPROVAL_ROLES,
    BANK_CHANGES,
    BILLS,
    CRM_USERS_NEEDED,
    DEPARTMENTS,
    ERP_USERS,
    PURCHASE_ORDERS,
    VENDORS,
    WORK_QUEUES,
    BillPlan,
    LinePlan,
    PurchaseOrderPlan,
    VendorPlan,
)
from adapters.sandbox.seed_signals import CENT, SeedRows

# The objects the ERP book adds rows to, in insert order.
ERP_SEEDED_OBJECTS = ("user", *ERP_OBJECTS)


def seed_erp(engine: Engine, *, anchor: date) -> dict[str, int]:
    """Add the ERP book to a sandbox that contains the CRM book and no ERP rows yet.

    Args:
        engine: engine of the sandbox database.
        anchor: the "today" of the demo; all dates are relative to it.

    Returns:
        The number of rows added per object; ``user`` counts only the ERP users.

    Raises:
        ValueError: a CRM user the book refers to is missing, an ERP user id is
            taken, or the ERP tables already have rows.
    """
    create_schema(engine)
    with engine.begin() as connection:
        return insert_erp_book(connection, anchor=anchor)


def insert_erp_book(connection: Connection, *, anchor: date) -> dict[str, int]:
    """Insert the ERP book in the caller's transaction; see ``seed_erp``."""
    _check_can_seed(connection)
    book = _ErpBook(anchor)
    book.build()
    for name in ERP_SEEDED_OBJECTS:
        if book.rows[name]:
            connection.execute(insert(object_table(name)), book.rows[name])
    return {name: len(book.rows[name]) for name in ERP_SEEDED_OBJECTS}


def _check_can_seed(connection: Connection) -> None:
    users = object_table("user")
    user_ids = [*CRM_USERS_NEEDED, *(user[0] for user in ERP_USERS)]
    found = set(connection.execute(select(users.c.id).where(users.c.id.in_(user_ids))).scalars())

    missing = [user_id for user_id in CRM_USERS_NEEDED if user_id not in found]
    if missing:
        raise ValueError(
            f"the ERP book refers to users {', '.join(missing)} of the CRM book, which are "
            "missing; seed the CRM first (seed_sandbox)"
        )
    existing = [user[0] for user in ERP_USERS if user[0] in found]
    if existing:
        raise ValueError(
            f"user ids {', '.join(existing)} already exist, but the ERP book adds them; "
            "reseed the whole sandbox with seed_sandbox(..., erp=True, replace=True)"
        )
    for name in ERP_OBJECTS:
        if connection.execute(select(func.count()).select_from(object_table(name))).scalar_one():
            raise ValueError(
                f"the sandbox ERP already has {name} rows; reseed the whole sandbox with "
                "seed_sandbox(..., erp=True, replace=True)"
            )


class _ErpBook(SeedRows):
    """Builds the ERP rows in memory from the plans, with ids from per-prefix counters."""

    def __init__(self, anchor: date) -> None:
        super().__init__()
        self.anchor = anchor
        self.vendors: dict[str, VendorPlan] = {}
        self.purchase_orders: dict[str, PurchaseOrderPlan] = {}
        # PO id to the ids of its lines, in line order.
        self.po_line_ids: dict[str, list[str]] = {}

    def build(self) -> None:
        for user_id, name, email, role, manager_id in ERP_USERS:
            self.add(
                "user",
                id=user_id,
                name=name,
                email=email,
                role=role,
                manager_id=manager_id,
                active=True,
            )
        self._organisation()
        for vendor in VENDORS:
            self._vendor(vendor)
        for order in PURCHASE_ORDERS:
            self._purchase_order(order)
        for bill in BILLS:
            self._bill(bill)

    def _organisation(self) -> None:
        for department_id, name, cost_center, head_id, limits in DEPARTMENTS:
            self.add(
                "department", id=department_id, name=name, cost_center=cost_center, owner_id=head_id
            )
            for role, limit in zip(APPROVAL_ROLES, limits, strict=True):
                self.add(
                    "approval_threshold",
                    id=self.next_id("apt"),
                    department_id=department_id,
                    role=role,
                    max_amount=Decimal(limit).quantize(CENT),
                )
        for queue_id, name, owner_id in WORK_QUEUES:
            self.add("work_queue", id=queue_id, name=name, owner_id=owner_id)

    def _vendor(self, plan: VendorPlan) -> None:
        self.vendors[plan.vendor_id] = plan
        self.add(
            "vendor",
            id=plan.vendor_id,
            name=plan.name,
            status=plan.status,
            created_date=self.anchor - timedelta(days=plan.created_days_ago),
            tax_id_present=plan.tax_id is not None,
            tax_id=plan.tax_id,
            remit_bank_account=plan.remit_bank_account,
            payment_terms=plan.payment_terms,
        )
        for vendor_id, days_ago, clock, old, new, status, source in BANK_CHANGES:
            if vendor_id != plan.vendor_id:
                continue
            requested = datetime.combine(
                self.anchor - timedelta(days=days_ago), time.fromisoformat(clock), UTC
            )
            self.add(
                "vendor_bank_change",
                id=self.next_id("vbc"),
                vendor_id=vendor_id,
                requested_at=requested,
                old_account_masked=old,
                new_account_masked=new,
                status=status,
                source=source,
            )

    def _purchase_order(self, plan: PurchaseOrderPlan) -> None:
        self.purchase_orders[plan.po_id] = plan
        line_ids = self.po_line_ids.setdefault(plan.po_id, [])
        self.add(
            "purchase_order",
            id=plan.po_id,
            vendor_id=plan.vendor_id,
            department_id=plan.department_id,
            requester_id=plan.requester_id,
            status=plan.status,
            order_date=self.anchor - timedelta(days=plan.order_days_ago),
            currency="USD",
            total=sum((_line_total(line) for line in plan.lines), Decimal("0.00")),
        )
        for line_no, line in enumerate(plan.lines, start=1):
            line_id = self.next_id("pol")
            line_ids.append(line_id)
            self.add(
                "po_line",
                id=line_id,
                purchase_order_id=plan.po_id,
                line_no=line_no,
                item=line.item,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
            )

        if plan.received_days_ago is None:
            return
        receipt_id = self.next_id("gr")
        self.add(
            "goods_receipt",
            id=receipt_id,
            purchase_order_id=plan.po_id,
            received_date=self.anchor - timedelta(days=plan.received_days_ago),
            received_by_id=plan.requester_id,
        )
        for line_id, line in zip(line_ids, plan.lines, strict=True):
            self.add(
                "receipt_line",
                id=self.next_id("grl"),
                goods_receipt_id=receipt_id,
                po_line_id=line_id,
                quantity_received=line.quantity if line.received is None else line.received,
            )

    def _bill(self, plan: BillPlan) -> None:
        # Bill lines with the PO lines they refer to, and who the bill is for.
        lines: list[tuple[str | None, LinePlan]]
        if plan.po_id is not None:
            order = self.purchase_orders[plan.po_id]
            prices = dict(plan.billed_prices)
            lines = []
            for line_no, (line_id, line) in enumerate(
                zip(self.po_line_ids[plan.po_id], order.lines, strict=True), start=1
            ):
                rate = line.tax_rate if plan.billed_tax_rate is None else plan.billed_tax_rate
                billed = LinePlan(
                    line.item, line.quantity, prices.get(line_no, line.unit_price), rate
                )
                lines.append((line_id, billed))
            department_id, requester_id = order.department_id, order.requester_id
        else:
            assert plan.department_id is not None and plan.requester_id is not None
            lines = [(None, line) for line in plan.lines]
            department_id, requester_id = plan.department_id, plan.requester_id

        # Lines, then the totals they add up to; tax is rounded per line.
        subtotal = tax = Decimal("0.00")
        for line_no, (po_line_id, line) in enumerate(lines, start=1):
            line_total = _line_total(line)
            subtotal += line_total
            tax += (line_total * line.tax_rate).quantize(CENT, rounding=ROUND_HALF_UP)
            self.add(
                "bill_line",
                id=self.next_id("bln"),
                vendor_bill_id=plan.bill_id,
                line_no=line_no,
                po_line_id=po_line_id,
                item=line.item,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                line_total=line_total,
            )

        bill_date = self.anchor - timedelta(days=plan.bill_days_ago)
        terms = self.vendors[plan.vendor_id].payment_terms
        self.add(
            "vendor_bill",
            id=plan.bill_id,
            vendor_id=plan.vendor_id,
            vendor_invoice_number=plan.invoice_number,
            purchase_order_id=plan.po_id,
            department_id=department_id,
            requester_id=requester_id,
            bill_date=bill_date,
            due_date=bill_date + timedelta(days=_net_days(terms)),
            currency="USD",
            subtotal=subtotal,
            tax_amount=tax,
            total=subtotal + tax,
            memo=plan.memo,
            match_status="matched" if plan.exception_type is None else "unmatched",
            exception_type=plan.exception_type,
            review_status=None,
            posted=plan.posted,
            payment_hold=plan.payment_hold,
        )


def _line_total(line: LinePlan) -> Decimal:
    return (line.quantity * line.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


def _net_days(payment_terms: str) -> int:
    """Return the days to pay for terms such as "NET30"."""
    days = payment_terms.removeprefix("NET")
    if not days.isdigit():
        raise ValueError(f"unsupported payment terms {payment_terms!r}; expected NET<days>")
    return int(days)
