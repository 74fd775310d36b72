"""Reading a CRM CSV export, and checking its sales teams and accounts.

Each parser returns the rows it accepted and appends an ``ImportIssue`` for every
row it repaired or rejected. The pipeline file has its own module, ``csv_pipeline``.
"""

import csv
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from adapters.sandbox.csv_report import ImportIssue, IssueAction

TEAMS_FILE = "sales_teams.csv"
ACCOUNTS_FILE = "accounts.csv"
PRODUCTS_FILE = "products.csv"
PIPELINE_FILE = "sales_pipeline.csv"
REQUIRED_COLUMNS = {
    TEAMS_FILE: ("sales_agent", "manager"),
    ACCOUNTS_FILE: ("account", "sector", "revenue", "employees", "office_location"),
    PRODUCTS_FILE: ("product",),
    PIPELINE_FILE: (
        "opportunity_id",
        "sales_agent",
        "product",
        "account",
        "deal_stage",
        "engage_date",
        "close_date",
        "close_value",
    ),
}

# Misspellings found in CRM exports, mapped to the spelling used elsewhere in the data.
_SECTOR_FIXES = {"technolgy": "technology"}
_LOCATION_FIXES = {"Philipines": "Philippines"}


class CsvImportError(ValueError):
    """The export cannot be imported at all: a missing file or column, or a non-empty sandbox."""


class IssueLog:
    """Collects the issues of one file."""

    def __init__(self, issues: list[ImportIssue], file: str) -> None:
        self.issues = issues
        self.file = file

    def add(
        self, action: IssueAction, row: int, record_id: str | None, kind: str, reason: str
    ) -> None:
        self.issues.append(
            ImportIssue(
                file=self.file,
                row=row,
                record_id=record_id,
                action=action,
                kind=kind,
                reason=reason,
            )
        )


def read_csv(folder: Path, file: str) -> list[dict[str, str]]:
    """Read one export file into rows of stripped strings.

    Raises:
        CsvImportError: the file is missing or lacks a required column.
    """
    path = folder / file
    if not path.is_file():
        raise CsvImportError(f"missing export file {path}")
    # utf-8-sig drops the byte-order mark that spreadsheet tools often write.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in REQUIRED_COLUMNS[file] if name not in (reader.fieldnames or [])]
        if missing:
            raise CsvImportError(f"{path} lacks column(s): {', '.join(missing)}")
        return [{key: (value or "").strip() for key, value in row.items() if key} for row in reader]


def parse_teams(rows: list[dict[str, str]], log: IssueLog) -> tuple[list[dict], dict[str, str]]:
    """Turn sales agents and their managers into users.

    Returns:
        The user rows, and each agent's user id by name.
    """
    users: list[dict] = []
    ids: dict[str, str] = {}
    emails: set[str] = set()
    agents: dict[str, int] = {}

    def add_user(name: str, role: str, manager_id: str | None) -> str:
        user_id = f"usr_{len(users) + 1:03d}"
        users.append(
            dict(
                id=user_id,
                name=name,
                email=_unique_email(name, emails),
                role=role,
                manager_id=manager_id,
                active=True,
            )
        )
        return user_id

    for number, row in enumerate(rows, start=1):
        agent, manager = row["sales_agent"], row["manager"]
        if not agent:
            log.add("rejected", number, None, "missing_agent", "sales_agent is empty")
            continue
        if agent in agents:
            reason = f"duplicate sales agent {agent!r}, first listed in row {agents[agent]}"
            log.add("rejected", number, agent, "duplicate", reason)
            continue
        manager_id = None
        if manager:
            if manager not in ids:
                ids[manager] = add_user(manager, "sales_manager", None)
            manager_id = ids[manager]
        else:
            log.add("repaired", number, agent, "no_manager", "no manager; imported without one")
        agents[agent] = number
        # A manager listed earlier is also an agent here: keep the one user.
        if agent not in ids:
            ids[agent] = add_user(agent, "sales_rep", manager_id)
    return users, {name: ids[name] for name in agents}


def parse_accounts(rows: list[dict[str, str]], log: IssueLog) -> list[dict]:
    """Turn accounts into account rows, repairing known misspellings.

    The segment comes from the head count: 5,000 employees or more is
    ``enterprise``, 1,000 or more ``mid_market``, fewer ``smb``. Without a valid
    head count, annual revenue decides: USD 1,000 million or more is
    ``enterprise``, 100 million or more ``mid_market``, less ``smb``.
    """
    accounts: list[dict] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        name = row["account"]
        if not name:
            log.add("rejected", number, None, "missing_name", "account name is empty")
            continue
        if name in seen:
            reason = f"duplicate account {name!r}, first listed in row {seen[name]}"
            log.add("rejected", number, name, "duplicate", reason)
            continue
        segment = _segment(row["employees"], row["revenue"])
        if segment is None:
            reason = (
                f"employees {row['employees']!r} and revenue {row['revenue']!r} are not valid "
                "numbers, so the segment cannot be derived"
            )
            log.add("rejected", number, name, "no_segment", reason)
            continue

        sector = _repaired(log, number, name, "sector", row["sector"].lower(), _SECTOR_FIXES)
        region = _repaired(
            log, number, name, "office_location", row["office_location"], _LOCATION_FIXES
        )
        seen[name] = number
        accounts.append(
            dict(
                id=f"acc_{len(accounts) + 1:03d}",
                name=name,
                segment=segment,
                sector=sector,
                region=region,
                owner_id=None,
                erp_customer_id=None,
            )
        )
    return accounts


def _segment(employees: str, revenue: str) -> str | None:
    if employees.isdigit():
        count = int(employees)
        if count >= 5_000:
            return "enterprise"
        if count >= 1_000:
            return "mid_market"
        return "smb"
    try:
        millions = Decimal(revenue)
    except InvalidOperation:
        return None
    if not millions.is_finite() or millions < 0:
        return None
    if millions >= 1_000:
        return "enterprise"
    if millions >= 100:
        return "mid_market"
    return "smb"


def _repaired(
    log: IssueLog, number: int, name: str, column: str, value: str, fixes: Mapping[str, str]
) -> str:
    if not value:
        log.add(
            "repaired", number, name, f"missing_{column}", f"{column} is empty; set to 'unknown'"
        )
        return "unknown"
    fixed = fixes.get(value)
    if fixed is None:
        return value
    log.add(
        "repaired", number, name, f"{column}_typo", f"{column} {value!r} corrected to {fixed!r}"
    )
    return fixed


def _unique_email(name: str, used_emails: set[str]) -> str:
    local = ".".join(re.sub(r"[^a-z0-9-]", "", part) for part in name.lower().split())
    email = f"{local or 'user'}@crm-import.example"
    suffix = 2
    while email in used_emails:
        email = f"{local}.{suffix}@crm-import.example"
        suffix += 1
    used_emails.add(email)
    return email
