"""Rows of the seeded book that carry the renewal signals: usage, tickets and ERP billing."""

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from adapters.sandbox.models import OBJECTS
from adapters.sandbox.seed_scenarios import AccountPlan
from adapters.sandbox.seed_text import ticket_texts

CENT = Decimal("0.01")

# Active users in the last of six months, as a share of the first month.
_USAGE_CHANGE = {
    "growing": (1.08, 1.15),
    "flat": (0.97, 1.03),
    "declining": (0.80, 0.90),
    "collapsing": (0.50, 0.65),
}
# USD per licensed seat and year, to size seat counts from the contract value.
_SEAT_PRICE = 250


class SeedRows:
    """Rows per object name, built in memory, with ids from per-prefix counters."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, object]]] = {name: [] for name in OBJECTS}
        self.counters: Counter[str] = Counter()

    def next_id(self, prefix: str, width: int = 3) -> str:
        self.counters[prefix] += 1
        return f"{prefix}_{self.counters[prefix]:0{width}d}"

    def add(self, object_name: str, **row: object) -> None:
        self.rows[object_name].append(row)


def add_usage(
    rows: SeedRows, plan: AccountPlan, value: Decimal, *, anchor: date, rng: random.Random
) -> None:
    """Add six monthly usage summaries that end in the month before the anchor."""
    assert plan.usage is not None
    seats = max(5, int(value) // _SEAT_PRICE)
    start = round(seats * rng.uniform(0.70, 0.85))
    low, high = _USAGE_CHANGE[plan.usage]
    change = rng.uniform(low, high)
    first_month = add_months(anchor.replace(day=1), -6)
    for index in range(6):
        trend = start * (1 + (change - 1) * index / 5)
        # Noise only between the ends, so that first versus last month shows the
        # drawn change, up to rounding to whole users.
        noise = 1.0 if index in (0, 5) else rng.uniform(0.98, 1.02)
        rows.add(
            "usage_summary",
            id=rows.next_id("use", 4),
            account_id=plan.account_id,
            month=add_months(first_month, index),
            active_users=round(trend * noise),
            licensed_seats=seats,
        )


def add_tickets(rows: SeedRows, plan: AccountPlan, *, anchor: date, rng: random.Random) -> None:
    """Add the account's support tickets, opened during working hours (UTC)."""
    for severity, status, days_ago, subject, body in ticket_texts(plan, rng):
        opened = datetime.combine(anchor - timedelta(days=days_ago), time(9), UTC)
        opened += timedelta(minutes=rng.randint(0, 480))
        rows.add(
            "support_ticket",
            id=rows.next_id("tkt", 4),
            account_id=plan.account_id,
            subject=subject,
            body=body,
            severity=severity,
            status=status,
            opened_at=opened,
        )


def add_erp(
    rows: SeedRows,
    plan: AccountPlan,
    erp_id: str,
    value: Decimal,
    *,
    anchor: date,
    rng: random.Random,
) -> None:
    """Add the ERP customer and four quarterly invoices, the last due 10 days before the anchor."""
    name, status, billed = plan.name, "active", value
    if plan.erp == "mismatch":
        name, billed = "LARKSPUR TRADING LTD", (value * Decimal("0.8")).quantize(CENT)
    if plan.erp == "blocked":
        status = "blocked"
    rows.add(
        "erp_customer",
        id=erp_id,
        account_id=plan.account_id,
        name=name,
        status=status,
        contract_value=billed,
    )

    for quarter in range(4):
        due = anchor - timedelta(days=280 - 90 * quarter)
        # The last two invoices (due 100 and 10 days ago) stay unpaid for troubled accounts.
        late = plan.erp in ("overdue", "blocked") and quarter >= 2
        paid_date = None if late else due - timedelta(days=rng.randint(0, 12))
        invoice_id = rows.next_id("inv", 4)
        rows.add(
            "ar_invoice",
            id=invoice_id,
            erp_customer_id=erp_id,
            number=f"INV-{rows.counters['inv']:05d}",
            amount=(billed / 4).quantize(CENT),
            due_date=due,
            paid=not late,
            paid_date=paid_date,
            credit_hold=late and plan.erp == "blocked",
        )


def add_months(first_of_month: date, months: int) -> date:
    """Return the first day of the month ``months`` after (before, if negative) the given one."""
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
