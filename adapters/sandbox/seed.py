"""Deterministic demo data for the sandbox: a small CRM and ERP book around an anchor date.

The same ``seed`` and ``anchor`` always give identical rows: the generator is a
private ``random.Random(seed)`` and every id comes from a counter. The accounts and
the scenario each one stands for are listed in ``adapters.sandbox.seed_scenarios``.
With ``erp=True`` the seed also adds the accounts-payable ERP book, whose vendor
bills are listed in ``adapters.sandbox.seed_erp_scenarios``.
"""

import random
from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Engine, insert

from adapters.sandbox.db import create_schema, is_empty, reset
from adapters.sandbox.models import OBJECTS, table_of
from adapters.sandbox.models_erp import ERP_OBJECTS
from adapters.sandbox.seed_erp import insert_erp_book
from adapters.sandbox.seed_scenarios import ACCOUNT_PLANS, RENEWAL_DAY_RANGES, AccountPlan
from adapters.sandbox.seed_signals import CENT, SeedRows, add_erp, add_tickets, add_usage
from adapters.sandbox.seed_text import meeting_note_body

# (id, name, role, manager id, active); usr_010 has left the company but still owns an account.
_USERS = (
    ("usr_001", "Dana Whitfield", "sales_manager", None, True),
    ("usr_002", "Marcus Obi", "sales_manager", None, True),
    ("usr_003", "Ava Lindqvist", "sales_rep", "usr_001", True),
    ("usr_004", "Noah Castillo", "sales_rep", "usr_001", True),
    ("usr_005", "Priya Natarajan", "sales_rep", "usr_002", True),
    ("usr_006", "Leo Brandt", "sales_rep", "usr_002", True),
    ("usr_007", "Sofia Marin", "sales_rep", "usr_001", True),
    ("usr_008", "Riley Ops", "revops", None, True),
    ("usr_009", "Frankie Ledger", "finance", None, True),
    ("usr_010", "Tom Archer", "sales_rep", "usr_002", False),
)
_ACTIVE_REPS = ("usr_003", "usr_004", "usr_005", "usr_006", "usr_007")
_ROLE_EMAILS = {"revops": "revops@example.com", "finance": "finance@example.com"}
_SECTORS = ("software", "healthcare", "manufacturing", "retail", "financial services", "logistics")
_REGIONS = ("North America", "EMEA", "APAC", "LATAM")
_PRODUCTS = ("Platform Standard", "Platform Enterprise", "Analytics Add-on", "Premium Support")
_FORECAST = {
    "Prospecting": "pipeline",
    "Engaging": "pipeline",
    "Proposal": "best_case",
    "Negotiation": "commit",
    "Closed Won": "closed",
    "Closed Lost": "omitted",
}
RENEWAL_WINDOW_DAYS = 60


class SeedSummary(BaseModel):
    """Outcome of ``seed_sandbox``: rows per object, and the number of renewals in the window."""

    anchor: date
    seed: int
    counts: dict[str, int]
    in_window_renewals: int


def seed_sandbox(
    engine: Engine,
    *,
    anchor: date,
    seed: int = 20261204,
    replace: bool = False,
    erp: bool = True,
) -> SeedSummary:
    """Create the sandbox schema and fill it with the demo book.

    Args:
        engine: engine of the sandbox database.
        anchor: the "today" of the demo; all dates are relative to it.
        seed: seed of the random generator. Defaults to 20261204.
        replace: drop the existing sandbox rows first. Defaults to False.
        erp: also add the accounts-payable ERP book (vendors, purchase orders,
            receipts, vendor bills) and its 8 users. Defaults to True.

    Raises:
        ValueError: the sandbox already has rows and ``replace`` is False.
    """
    create_schema(engine)
    if not is_empty(engine):
        if not replace:
            raise ValueError("the sandbox already has data; pass replace=True to reseed it")
        reset(engine)

    book = _Book(anchor, random.Random(seed))
    book.build()
    # OBJECTS lists parents before children, so foreign keys resolve.
    with engine.begin() as connection:
        for name, model in OBJECTS.items():
            if book.rows[name]:
                connection.execute(insert(table_of(model)), book.rows[name])
        erp_counts = insert_erp_book(connection, anchor=anchor) if erp else {}

    counts = {name: len(rows) for name, rows in book.rows.items() if name not in ERP_OBJECTS}
    for name, added in erp_counts.items():
        counts[name] = counts.get(name, 0) + added
    return SeedSummary(
        anchor=anchor, seed=seed, counts=counts, in_window_renewals=book.in_window_renewals
    )


class _Book(SeedRows):
    """Builds every row in memory, always in the same order, so that random draws repeat."""

    def __init__(self, anchor: date, rng: random.Random) -> None:
        super().__init__()
        self.anchor = anchor
        self.rng = rng
        self.in_window_renewals = 0

    def build(self) -> None:
        for user_id, name, role, manager_id, active in _USERS:
            email = _ROLE_EMAILS.get(role, f"{name.lower().replace(' ', '.')}@example.com")
            self.add(
                "user",
                id=user_id,
                name=name,
                email=email,
                role=role,
                manager_id=manager_id,
                active=active,
            )
        for plan in ACCOUNT_PLANS:
            self._account(plan)
        self._new_business()

    def _account(self, plan: AccountPlan) -> None:
        rng, anchor = self.rng, self.anchor
        if plan.value is not None:
            value = Decimal(plan.value).quantize(CENT)
        else:
            value = Decimal(rng.randrange(5_000, 400_000, 500)).quantize(CENT)
        if plan.days is not None:
            days = plan.days
        else:
            days = rng.randint(*RENEWAL_DAY_RANGES[plan.scenario])
        renewal_date = anchor + timedelta(days=days)
        if 0 < days <= RENEWAL_WINDOW_DAYS:
            self.in_window_renewals += 1

        # Account and the contract that is up for renewal.
        owner = None if not plan.has_owner else self._owner(plan)
        erp_id = None if plan.erp == "absent" else self.next_id("cus")
        self.add(
            "account",
            id=plan.account_id,
            name=plan.name,
            segment=_segment(value),
            sector=rng.choice(_SECTORS),
            region=rng.choice(_REGIONS),
            owner_id=owner,
            erp_customer_id=erp_id,
        )
        contract_id = self.next_id("ctr")
        self._contract(plan, contract_id, _shift_years(renewal_date, -1), renewal_date, value)

        # The renewal opportunity, and the next contract if it is already won.
        opportunity_id = self._renewal(plan, owner, contract_id, value, renewal_date)
        if plan.stage == "Closed Won":
            next_end = _shift_years(renewal_date, 1)
            self._contract(plan, self.next_id("ctr"), renewal_date, next_end, value, opportunity_id)

        # Signals: usage, tickets, ERP billing and the latest meeting note.
        if plan.usage is not None:
            add_usage(self, plan, value, anchor=anchor, rng=rng)
        add_tickets(self, plan, anchor=anchor, rng=rng)
        if erp_id is not None:
            add_erp(self, plan, erp_id, value, anchor=anchor, rng=rng)
        meeting_days_ago = 150 if plan.stale else rng.randint(3, 40)
        self.add(
            "meeting_note",
            id=self.next_id("mtg"),
            account_id=plan.account_id,
            opportunity_id=opportunity_id,
            author_id=owner or "usr_001",
            meeting_date=anchor - timedelta(days=meeting_days_ago),
            body=meeting_note_body(plan, rng),
        )

    def _owner(self, plan: AccountPlan) -> str:
        return "usr_010" if plan.owner_inactive else self.rng.choice(_ACTIVE_REPS)

    def _contract(
        self,
        plan: AccountPlan,
        contract_id: str,
        start: date,
        end: date,
        value: Decimal,
        source_opportunity_id: str | None = None,
    ) -> None:
        self.add(
            "contract",
            id=contract_id,
            account_id=plan.account_id,
            source_opportunity_id=source_opportunity_id,
            start_date=start,
            end_date=end,
            annual_value=value,
            currency="USD",
        )

    def _renewal(
        self,
        plan: AccountPlan,
        owner: str | None,
        contract_id: str,
        value: Decimal,
        renewal_date: date,
    ) -> str:
        opportunity_id = self.next_id("opp")
        close_date = self.anchor - timedelta(days=20) if plan.stale else renewal_date
        activity_days_ago = 150 if plan.stale else self.rng.randint(2, 30)
        self.add(
            "opportunity",
            id=opportunity_id,
            account_id=plan.account_id,
            name=f"{plan.name} renewal {renewal_date.year}",
            type="renewal",
            product=self.rng.choice(_PRODUCTS[:2]),
            amount=None if plan.renewal_amount_missing else value,
            stage=plan.stage,
            close_date=close_date,
            renewal_date=renewal_date,
            forecast_category=_FORECAST[plan.stage],
            owner_id=owner,
            contract_id=contract_id,
            renewal_risk=plan.renewal_risk,
            last_activity_date=self.anchor - timedelta(days=activity_days_ago),
        )
        return opportunity_id

    def _new_business(self) -> None:
        """Add open and closed new-business deals, one of them a lead with no account."""
        rng, anchor = self.rng, self.anchor
        names = {plan.account_id: plan.name for plan in ACCOUNT_PLANS}
        stages = list(_FORECAST)
        for index in range(12):
            stage = stages[index % len(stages)]
            product = rng.choice(_PRODUCTS)
            if index == 0:
                # An inbound lead, not yet matched to an account or sized.
                account_id, name, amount = None, f"Inbound lead: {product}", None
            else:
                account_id = rng.choice(sorted(names))
                name = f"{names[account_id]}: {product}"
                amount = Decimal(rng.randrange(5_000, 150_000, 250)).quantize(CENT)
            if stage.startswith("Closed"):
                close_date = anchor - timedelta(days=rng.randint(5, 90))
            else:
                close_date = anchor + timedelta(days=rng.randint(10, 150))
            self.add(
                "opportunity",
                id=self.next_id("opp"),
                account_id=account_id,
                name=name,
                type="new_business",
                product=product,
                amount=amount,
                stage=stage,
                close_date=close_date,
                renewal_date=None,
                forecast_category=_FORECAST[stage],
                owner_id=rng.choice(_ACTIVE_REPS),
                contract_id=None,
                renewal_risk=None,
                last_activity_date=anchor - timedelta(days=rng.randint(1, 60)),
            )


def _segment(annual_value: Decimal) -> str:
    if annual_value >= 100_000:
        return "enterprise"
    if annual_value >= 25_000:
        return "mid_market"
    return "smb"


def _shift_years(day: date, years: int) -> date:
    """Return the same calendar day ``years`` later (earlier if negative); Feb 29 becomes Feb 28."""
    year = day.year + years
    if day.month == 2 and day.day == 29:
        return date(year, 2, 28)
    return day.replace(year=year)
