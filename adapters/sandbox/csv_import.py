"""Import of a CRM CSV export (sales teams, accounts, products, pipeline) into the sandbox.

Mapping:

- Sales agents become users with role ``sales_rep`` and their managers users with
  role ``sales_manager``; emails are ``first.last@crm-import.example``.
- Accounts become accounts (the segment rule is in ``parse_accounts``). Their
  ``year_established`` and ``subsidiary_of`` columns are not imported.
- Pipeline rows become new-business opportunities with id ``opp_<opportunity_id>``,
  owned by their sales agent. Prospecting and Engaging stay open stages; Won and
  Lost become "Closed Won" and "Closed Lost".
- ``products.csv`` is only the catalog that product names are checked against.
- Support tickets, usage, meeting notes and ERP records stay empty.

Contracts and renewals: each account with a won deal gets one contract that runs
365 days from the close date of its latest won deal. Its annual value is the sum of
the account's won ``close_value`` over the 365 days up to and including that date.
Each contract gets one renewal opportunity in stage "Negotiation", with
``renewal_date`` and ``close_date`` on the contract's end date, the annual value as
amount, and the owner of the latest won deal as owner. That user also becomes the
account's owner. Among won deals closed on the same latest date, the larger one
wins, then the smaller opportunity id.

Date shift: the export's dates are years old, so every date moves by the same
whole number of days D = (anchor + 30 days - 365 days) - (latest close date of a
won deal with an account). The latest renewal then falls on anchor + 30 days and
every other renewal before it. Without any such deal, D moves the latest date in
the pipeline onto the anchor.
"""

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from adapters.sandbox.csv_pipeline import Deal, parse_pipeline, parse_products
from adapters.sandbox.csv_records import (
    ACCOUNTS_FILE,
    PIPELINE_FILE,
    PRODUCTS_FILE,
    REQUIRED_COLUMNS,
    TEAMS_FILE,
    CsvImportError,
    IssueLog,
    parse_accounts,
    parse_teams,
    read_csv,
)
from adapters.sandbox.csv_report import ImportIssue, ImportReport
from adapters.sandbox.db import create_schema, is_empty, reset
from adapters.sandbox.fields import object_table

CONTRACT_TERM = timedelta(days=365)
LATEST_RENEWAL_AFTER_ANCHOR = timedelta(days=30)
_FORECAST = {
    "Prospecting": "pipeline",
    "Engaging": "pipeline",
    "Closed Won": "closed",
    "Closed Lost": "omitted",
}

__all__ = ["CsvImportError", "ImportIssue", "ImportReport", "import_crm_csv"]


def import_crm_csv(
    engine: Engine, folder: Path, *, anchor: date, replace: bool = False
) -> ImportReport:
    """Import a CRM CSV export into the sandbox, with dates shifted to fall around ``anchor``.

    All rows are read and checked before the database is touched, and all records
    are written in one transaction.

    Args:
        engine: engine of the sandbox database.
        folder: folder with sales_teams.csv, accounts.csv, products.csv and
            sales_pipeline.csv.
        anchor: the "today" the shifted dates are placed around.
        replace: delete all existing sandbox rows first. Defaults to False.

    Raises:
        CsvImportError: a file or column is missing, or the sandbox already has
            data and ``replace`` is False.
    """
    folder = Path(folder)
    tables = {file: read_csv(folder, file) for file in REQUIRED_COLUMNS}

    # Check every row first, so that a bad export changes nothing.
    issues: list[ImportIssue] = []
    users, agents = parse_teams(tables[TEAMS_FILE], IssueLog(issues, TEAMS_FILE))
    accounts = parse_accounts(tables[ACCOUNTS_FILE], IssueLog(issues, ACCOUNTS_FILE))
    deals = parse_pipeline(
        tables[PIPELINE_FILE],
        IssueLog(issues, PIPELINE_FILE),
        agents=agents,
        accounts={account["name"]: account["id"] for account in accounts},
        catalog=parse_products(tables[PRODUCTS_FILE]),
    )

    # Shift the dates and derive contracts and renewals.
    shift_days, shift_rule = date_shift(deals, anchor)
    shift = timedelta(days=shift_days)
    opportunities = [_opportunity_row(deal, shift) for deal in deals]
    contracts, renewals = _contracts_and_renewals(deals, accounts, shift)

    # Write, into an empty sandbox only unless asked to replace it.
    create_schema(engine)
    if not is_empty(engine):
        if not replace:
            raise CsvImportError(
                "the sandbox already has data; import with replace=True to delete it first"
            )
        reset(engine)
    records = {
        "user": users,
        "account": accounts,
        "contract": contracts,
        "opportunity": opportunities + renewals,
    }
    with engine.begin() as connection:
        for object_name, rows in records.items():
            if rows:
                connection.execute(insert(object_table(object_name)), rows)

    return ImportReport(
        folder=str(folder),
        anchor=anchor,
        shift_days=shift_days,
        shift_rule=shift_rule,
        rows_read={file: len(rows) for file, rows in tables.items()},
        rows_imported={
            TEAMS_FILE: len(agents),
            ACCOUNTS_FILE: len(accounts),
            PIPELINE_FILE: len(deals),
        },
        records_written={name: len(rows) for name, rows in records.items()},
        issues=issues,
    )


def date_shift(deals: list[Deal], anchor: date) -> tuple[int, str]:
    """Return the number of days to add to every date, and the rule in words."""
    # Only won deals with an account lead to a contract, so only they place renewals.
    won = [
        deal.close_date
        for deal in deals
        if deal.stage == "Closed Won" and deal.account_id and deal.close_date
    ]
    if won:
        latest = max(won)
        target = anchor + LATEST_RENEWAL_AFTER_ANCHOR
        days = (target - CONTRACT_TERM - latest).days
        return days, (
            f"the latest won close date ({latest}) plus the 365-day contract term "
            f"lands on the anchor plus 30 days ({target})"
        )

    dates = [day for deal in deals for day in (deal.engage_date, deal.close_date) if day]
    if not dates:
        return 0, "the pipeline has no dates to shift"
    latest = max(dates)
    return (anchor - latest).days, (
        f"no won deal with an account, so the latest pipeline date ({latest}) lands on the anchor"
    )


def _shifted(day: date | None, shift: timedelta) -> date | None:
    return None if day is None else day + shift


def _opportunity_row(deal: Deal, shift: timedelta) -> dict:
    engage_date = _shifted(deal.engage_date, shift)
    close_date = _shifted(deal.close_date, shift)
    activity = [day for day in (engage_date, close_date) if day is not None]
    return dict(
        id=deal.opportunity_id,
        account_id=deal.account_id,
        name=f"{deal.account_name or 'No account'}: {deal.product or 'no product'}",
        type="new_business",
        product=deal.product,
        amount=deal.close_value,
        stage=deal.stage,
        close_date=close_date,
        renewal_date=None,
        forecast_category=_FORECAST[deal.stage],
        owner_id=deal.owner_id,
        contract_id=None,
        renewal_risk=None,
        # The export has no activity log; the latest stage change is the best stand-in.
        last_activity_date=max(activity) if activity else None,
    )


def _contracts_and_renewals(
    deals: list[Deal], accounts: list[dict], shift: timedelta
) -> tuple[list[dict], list[dict]]:
    """Build one contract and one renewal per account with won deals; set account owners."""
    won_by_account: dict[str, list[Deal]] = defaultdict(list)
    for deal in deals:
        if deal.stage == "Closed Won" and deal.account_id is not None:
            won_by_account[deal.account_id].append(deal)

    contracts: list[dict] = []
    renewals: list[dict] = []
    for account in accounts:
        won = won_by_account.get(account["id"])
        if not won:
            continue
        latest = min(won, key=_latest_first)
        assert latest.close_date is not None
        window_start = latest.close_date - CONTRACT_TERM
        annual_value = sum(
            (deal.close_value or 0)
            for deal in won
            if deal.close_date is not None and window_start < deal.close_date <= latest.close_date
        )
        start = latest.close_date + shift
        end = start + CONTRACT_TERM
        number = len(contracts) + 1
        contract_id = f"ctr_{number:03d}"

        contracts.append(
            dict(
                id=contract_id,
                account_id=account["id"],
                source_opportunity_id=latest.opportunity_id,
                start_date=start,
                end_date=end,
                annual_value=annual_value,
                currency="USD",
            )
        )
        renewals.append(
            dict(
                id=f"opp_ren_{number:03d}",
                account_id=account["id"],
                name=f"{account['name']} renewal {end.year}",
                type="renewal",
                product=None,
                amount=annual_value,
                stage="Negotiation",
                close_date=end,
                renewal_date=end,
                forecast_category="commit",
                owner_id=latest.owner_id,
                contract_id=contract_id,
                renewal_risk=None,
                last_activity_date=start,
            )
        )
        account["owner_id"] = latest.owner_id
    return contracts, renewals


def _latest_first(deal: Deal) -> tuple[int, object, str]:
    assert deal.close_date is not None and deal.close_value is not None
    return (-deal.close_date.toordinal(), -deal.close_value, deal.opportunity_id)
