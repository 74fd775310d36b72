"""Checking the opportunity rows of a CRM CSV export against its teams, accounts and products.

Dates are returned as found in the file; shifting them happens later, once all
rows are known.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from adapters.sandbox.csv_records import IssueLog

_STAGES = {
    "Prospecting": "Prospecting",
    "Engaging": "Engaging",
    "Won": "Closed Won",
    "Lost": "Closed Lost",
}


@dataclass(frozen=True)
class Deal:
    """An accepted row of the pipeline file, with dates as found in the file."""

    opportunity_id: str
    owner_id: str
    product: str | None
    account_id: str | None
    account_name: str | None
    stage: str
    engage_date: date | None
    close_date: date | None
    close_value: Decimal | None


def parse_products(rows: list[dict[str, str]]) -> dict[str, str]:
    """Return the product catalog: each name's comparison key mapped to its spelling."""
    return {_product_key(row["product"]): row["product"] for row in rows if row["product"]}


def parse_pipeline(
    rows: list[dict[str, str]],
    log: IssueLog,
    *,
    agents: Mapping[str, str],
    accounts: Mapping[str, str],
    catalog: Mapping[str, str],
) -> list[Deal]:
    """Check each opportunity row; reject it with the first problem found, or accept it.

    Args:
        rows: rows of the pipeline file.
        log: where repaired and rejected rows are recorded.
        agents: user id by sales agent name.
        accounts: account id by account name.
        catalog: product spelling by comparison key (see ``parse_products``).
    """
    deals: list[Deal] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        source_id = row["opportunity_id"]
        try:
            deal = _parse_deal(number, row, log, agents, accounts, catalog, seen)
        except _Rejected as rejection:
            log.add("rejected", number, source_id or None, rejection.kind, str(rejection))
            continue
        seen[source_id] = number
        deals.append(deal)
    return deals


class _Rejected(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _parse_deal(
    number: int,
    row: Mapping[str, str],
    log: IssueLog,
    agents: Mapping[str, str],
    accounts: Mapping[str, str],
    catalog: Mapping[str, str],
    seen: Mapping[str, int],
) -> Deal:
    source_id = row["opportunity_id"]
    if not source_id:
        raise _Rejected("missing_id", "opportunity_id is empty")
    if source_id in seen:
        raise _Rejected(
            "duplicate", f"duplicate opportunity_id, first listed in row {seen[source_id]}"
        )
    if row["sales_agent"] not in agents:
        raise _Rejected("unknown_agent", f"unknown sales agent {row['sales_agent']!r}")
    stage = _STAGES.get(row["deal_stage"])
    if stage is None:
        raise _Rejected("unknown_stage", f"unknown deal_stage {row['deal_stage']!r}")
    account_name = row["account"] or None
    if account_name is not None and account_name not in accounts:
        raise _Rejected("unknown_account", f"unknown account {account_name!r}")

    product = row["product"] or None
    if product is not None:
        spelled = catalog.get(_product_key(product))
        if spelled is None:
            raise _Rejected("unknown_product", f"unknown product {product!r}")
    engage_date = _date(row, "engage_date")
    close_date = _date(row, "close_date")
    close_value = _money(row, "close_value")
    if stage.startswith("Closed") and close_date is None:
        raise _Rejected("missing_close_date", f"{row['deal_stage']} deal has no close_date")
    if stage == "Closed Won" and close_value is None:
        raise _Rejected("missing_close_value", "Won deal has no close_value")
    if engage_date and close_date and close_date < engage_date:
        raise _Rejected(
            "date_order", f"close_date {close_date} is before engage_date {engage_date}"
        )

    # Only repairs from here on: the row will be imported.
    opportunity_id = f"opp_{source_id}"
    if product is not None and spelled != product:
        log.add(
            "repaired",
            number,
            opportunity_id,
            "product_name",
            f"product {product!r} is spelled {spelled!r} in the product list",
        )
        product = spelled
    if account_name is None:
        log.add(
            "repaired",
            number,
            opportunity_id,
            "no_account",
            f"{row['deal_stage']} deal has no account; imported without one",
        )
    return Deal(
        opportunity_id=opportunity_id,
        owner_id=agents[row["sales_agent"]],
        product=product,
        account_id=accounts[account_name] if account_name else None,
        account_name=account_name,
        stage=stage,
        engage_date=engage_date,
        close_date=close_date,
        close_value=close_value,
    )


def _date(row: Mapping[str, str], column: str) -> date | None:
    text = row[column]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Rejected("invalid_date", f"{column} {text!r} is not a YYYY-MM-DD date") from None


def _money(row: Mapping[str, str], column: str) -> Decimal | None:
    text = row[column]
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Rejected("invalid_value", f"{column} {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise _Rejected("invalid_value", f"{column} {text!r} is negative or not finite")
    if amount != amount.quantize(Decimal("0.01")):
        raise _Rejected("invalid_value", f"{column} {text!r} has more than 2 decimal places")
    return amount


def _product_key(name: str) -> str:
    """Return the comparison key of a product name: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())
