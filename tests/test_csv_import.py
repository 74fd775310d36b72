"""Tests of the CRM CSV import: the public sample export, and small hand-made files.

The sample export lives outside the repository, in the shared datasets folder
next to it or under HANDRAIL_SHARED_DIR. Its tests are skipped when it is absent.
"""

import csv
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from adapters.base import Filter
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.csv_import import CsvImportError, ImportReport, import_crm_csv
from adapters.sandbox.db import is_empty, make_engine
from adapters.sandbox.seed import seed_sandbox
from tests.conftest import shared_dir

ANCHOR = date(2026, 12, 4)
SAMPLE_EXPORT = shared_dir() / "datasets" / "maven-crm-sales-opportunities"
PIPELINE = "sales_pipeline.csv"
SKIP_REASON = (
    f"sample CRM export not found at {SAMPLE_EXPORT}; set HANDRAIL_SHARED_DIR to the folder "
    "that contains datasets/maven-crm-sales-opportunities"
)

TEAMS_CSV = """sales_agent,manager,regional_office
Ada Stone,Mia Park,East
Ben Cole,Mia Park,East
Ben Cole,Mia Park,East
,Mia Park,East
"""
ACCOUNTS_CSV = """account,sector,year_established,revenue,employees,office_location,subsidiary_of
Acme,technolgy,1990,2500.5,12000,United States,
Betamax,retail,2001,150.0,,Philipines,
Cyclone,,2010,12.5,40,Kenya,
Acme,retail,1999,1.0,10,Kenya,
Nowhere,retail,1999,n/a,unknown,Kenya,
"""
PRODUCTS_CSV = """product,series,sales_price
GTX Pro,GTX,4821
MG Special,MG,55
"""
# Rows 1-4 are imported; rows 5-14 are rejected, each for one reason.
PIPELINE_CSV = """\
opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
W1,Ada Stone,GTXPro,Acme,Won,2017-01-05,2017-03-01,4500
W2,Ben Cole,MG Special,Acme,Won,2017-05-01,2017-06-30,60
L1,Ada Stone,MG Special,Betamax,Lost,2017-02-01,2017-02-20,0
E1,Ben Cole,GTX Pro,,Engaging,2017-06-01,,
X1,Zed Unknown,GTX Pro,Acme,Won,2017-01-05,2017-03-01,100
X2,Ada Stone,GTX Pro,Acme,Won,2017-01-05,2017-13-01,100
X3,Ada Stone,GTX Pro,Acme,Won,2017-01-05,2017-03-01,-5
X4,Ada Stone,Hoverboard,Acme,Won,2017-01-05,2017-03-01,100
X5,Ada Stone,GTX Pro,Initech,Won,2017-01-05,2017-03-01,100
X6,Ada Stone,GTX Pro,Acme,Stalled,2017-01-05,,
W1,Ada Stone,GTX Pro,Acme,Won,2017-01-05,2017-03-01,100
X7,Ada Stone,GTX Pro,Acme,Won,2017-01-05,,100
,Ada Stone,GTX Pro,Acme,Engaging,2017-01-05,,
X8,Ada Stone,GTX Pro,Acme,Won,2017-04-05,2017-03-01,100
"""


def write_export(folder: Path, **overrides: str) -> Path:
    files = {
        "sales_teams.csv": TEAMS_CSV,
        "accounts.csv": ACCOUNTS_CSV,
        "products.csv": PRODUCTS_CSV,
        PIPELINE: PIPELINE_CSV,
    }
    files.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sandbox.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sample(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ImportReport, SandboxAdapter]]:
    if not SAMPLE_EXPORT.is_dir():
        pytest.skip(SKIP_REASON)
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('import') / 'sandbox.db'}")
    report = import_crm_csv(engine, SAMPLE_EXPORT, anchor=ANCHOR)
    yield report, SandboxAdapter(engine)
    engine.dispose()


def issue_rows(report: ImportReport, kind: str) -> list[int]:
    return [issue.row for issue in report.issues if issue.kind == kind]


# The public sample export


def test_sample_every_row_accounted_for(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, _ = sample
    assert report.rows_read[PIPELINE] == 8_800
    for file, imported in report.rows_imported.items():
        assert imported + len(report.rejected(file)) == report.rows_read[file], file


def test_sample_records_written(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, adapter = sample
    for object_name, written in report.records_written.items():
        stored = adapter.query(object_name, fields=[], limit=100_000)
        assert len(stored) == written, object_name
    assert report.records_written["opportunity"] == (
        report.rows_imported[PIPELINE] + report.records_written["contract"]
    )


def test_sample_repairs_reported(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, adapter = sample
    products = [issue for issue in report.repaired(PIPELINE) if issue.kind == "product_name"]
    sectors = [issue for issue in report.repaired("accounts.csv") if issue.kind == "sector_typo"]
    assert len(products) == 1_480
    assert all("GTXPro" in issue.reason for issue in products)
    assert len(sectors) == 12
    assert all("technolgy" in issue.reason for issue in sectors)
    assert len(issue_rows(report, "no_account")) == 1_425

    repaired = adapter.read("opportunity", products[0].record_id or "", ["product"])
    assert repaired == {"product": "GTX Pro"}
    sectors_stored = {
        row["sector"] for row in adapter.query("account", fields=["sector"], limit=100)
    }
    assert "technolgy" not in sectors_stored
    assert "technology" in sectors_stored


def test_sample_open_deals_without_account(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    _, adapter = sample
    rows = adapter.query(
        "opportunity", fields=["stage"], where=[Filter("account_id", "is_null")], limit=10_000
    )
    assert len(rows) == 1_425
    assert {row["stage"] for row in rows} == {"Prospecting", "Engaging"}


def test_sample_stages_mapped(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    _, adapter = sample
    rows = adapter.query("opportunity", fields=["stage"], limit=100_000)
    assert {row["stage"] for row in rows} == {
        "Prospecting",
        "Engaging",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    }


def test_sample_dates_shifted(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, adapter = sample
    shift = timedelta(days=report.shift_days)
    assert date(2017, 12, 31) + shift + timedelta(days=365) == ANCHOR + timedelta(days=30)
    with (SAMPLE_EXPORT / PIPELINE).open(newline="", encoding="utf-8-sig") as handle:
        first = next(csv.DictReader(handle))
    stored = adapter.read("opportunity", f"opp_{first['opportunity_id']}", ["close_date"])
    assert stored["close_date"] == date.fromisoformat(first["close_date"]) + shift
    assert f"Dates shifted by +{report.shift_days:,} days" in report.format_text()


def test_sample_renewals_near_anchor(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, adapter = sample
    renewals = adapter.query(
        "opportunity",
        fields=["renewal_date", "amount", "owner_id", "contract_id", "stage"],
        where=[Filter("type", "eq", "renewal")],
        limit=1_000,
    )
    contracts = {
        row["id"]: row
        for row in adapter.query("contract", fields=["end_date", "annual_value"], limit=1_000)
    }
    assert len(renewals) == report.records_written["contract"] == 85
    dates = [row["renewal_date"] for row in renewals]
    assert max(dates) == ANCHOR + timedelta(days=30)
    assert min(dates) >= ANCHOR - timedelta(days=60)
    assert sum(ANCHOR < day <= ANCHOR + timedelta(days=60) for day in dates) > 60
    for renewal in renewals:
        contract = contracts[renewal["contract_id"]]
        assert renewal["renewal_date"] == contract["end_date"]
        assert renewal["amount"] == contract["annual_value"]
        assert renewal["owner_id"] is not None
        assert renewal["stage"] == "Negotiation"


def test_sample_contract_value_rule(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, adapter = sample
    with (SAMPLE_EXPORT / PIPELINE).open(newline="", encoding="utf-8-sig") as handle:
        won = [
            row
            for row in csv.DictReader(handle)
            if row["account"] == "Cancity" and row["deal_stage"] == "Won"
        ]
    latest = max(date.fromisoformat(row["close_date"]) for row in won)
    expected = sum(
        Decimal(row["close_value"])
        for row in won
        if latest - timedelta(days=365) < date.fromisoformat(row["close_date"]) <= latest
    )
    (account,) = adapter.query("account", fields=[], where=[Filter("name", "eq", "Cancity")])
    (contract,) = adapter.query(
        "contract",
        fields=["start_date", "annual_value"],
        where=[Filter("account_id", "eq", account["id"])],
    )
    assert contract["annual_value"] == expected
    assert contract["start_date"] == latest + timedelta(days=report.shift_days)


def test_sample_report_text(sample: tuple[ImportReport, SandboxAdapter]) -> None:
    report, _ = sample
    text = report.format_text(limit=5)
    assert "sales_pipeline.csv: 8,800 rows read" in text
    assert f"… and {len(report.issues) - 5:,} more" in text
    assert len(text.splitlines()) < 20
    full = report.format_text(limit=None)
    assert "… and" not in full
    assert len(full.splitlines()) > len(report.issues)


# Hand-made exports


def test_import_rejection_cases(engine: Engine, tmp_path: Path) -> None:
    report = import_crm_csv(engine, write_export(tmp_path / "export"), anchor=ANCHOR)
    rejected = {issue.row: issue.kind for issue in report.rejected(PIPELINE)}
    assert rejected == {
        5: "unknown_agent",
        6: "invalid_date",
        7: "invalid_value",
        8: "unknown_product",
        9: "unknown_account",
        10: "unknown_stage",
        11: "duplicate",
        12: "missing_close_date",
        13: "missing_id",
        14: "date_order",
    }
    assert report.rows_imported[PIPELINE] + len(rejected) == report.rows_read[PIPELINE] == 14

    adapter = SandboxAdapter(engine)
    stored = adapter.query("opportunity", fields=[], where=[Filter("type", "eq", "new_business")])
    assert sorted(row["id"] for row in stored) == ["opp_E1", "opp_L1", "opp_W1", "opp_W2"]
    assert adapter.read("opportunity", "opp_W1", ["product", "amount"]) == {
        "product": "GTX Pro",
        "amount": Decimal("4500.00"),
    }


def test_import_team_and_account_cases(engine: Engine, tmp_path: Path) -> None:
    report = import_crm_csv(engine, write_export(tmp_path / "export"), anchor=ANCHOR)
    assert {issue.row: issue.kind for issue in report.rejected("sales_teams.csv")} == {
        3: "duplicate",
        4: "missing_agent",
    }
    assert {issue.row: issue.kind for issue in report.rejected("accounts.csv")} == {
        4: "duplicate",
        5: "no_segment",
    }
    assert {(issue.row, issue.kind) for issue in report.repaired("accounts.csv")} == {
        (1, "sector_typo"),
        (2, "office_location_typo"),
        (3, "missing_sector"),
    }

    adapter = SandboxAdapter(engine)
    accounts = adapter.query(
        "account", fields=["name", "segment", "sector", "region"], order_by="name"
    )
    assert [(row["name"], row["segment"], row["sector"], row["region"]) for row in accounts] == [
        ("Acme", "enterprise", "technology", "United States"),
        ("Betamax", "mid_market", "retail", "Philippines"),
        ("Cyclone", "smb", "unknown", "Kenya"),
    ]
    users = adapter.query("user", fields=["name", "email", "role", "manager_id"], order_by="name")
    assert [(row["email"], row["role"]) for row in users] == [
        ("ada.stone@crm-import.example", "sales_rep"),
        ("ben.cole@crm-import.example", "sales_rep"),
        ("mia.park@crm-import.example", "sales_manager"),
    ]


def test_import_renewal_from_won_deals(engine: Engine, tmp_path: Path) -> None:
    report = import_crm_csv(engine, write_export(tmp_path / "export"), anchor=ANCHOR)
    adapter = SandboxAdapter(engine)
    (contract,) = adapter.query(
        "contract",
        fields=["account_id", "start_date", "end_date", "annual_value", "source_opportunity_id"],
    )
    assert contract["annual_value"] == Decimal("4560.00")
    assert contract["source_opportunity_id"] == "opp_W2"
    assert contract["end_date"] == ANCHOR + timedelta(days=30)
    assert contract["start_date"] == date(2017, 6, 30) + timedelta(days=report.shift_days)
    account = adapter.read("account", contract["account_id"], ["name", "owner_id"])
    owner = adapter.read("user", account["owner_id"], ["name"])
    assert account["name"] == "Acme"
    assert owner == {"name": "Ben Cole"}


def test_import_refuses_non_empty_sandbox(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export")
    seed_sandbox(engine, anchor=ANCHOR)
    with pytest.raises(CsvImportError, match="replace=True"):
        import_crm_csv(engine, folder, anchor=ANCHOR)
    assert len(SandboxAdapter(engine).query("account", fields=[], limit=100)) == 30

    import_crm_csv(engine, folder, anchor=ANCHOR, replace=True)
    assert len(SandboxAdapter(engine).query("account", fields=[], limit=100)) == 3


def test_import_missing_file_or_column(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export")
    (folder / "products.csv").unlink()
    with pytest.raises(CsvImportError, match=r"products\.csv"):
        import_crm_csv(engine, folder, anchor=ANCHOR)

    folder = write_export(tmp_path / "other", **{PIPELINE: "opportunity_id,sales_agent\nA,B\n"})
    with pytest.raises(CsvImportError, match="deal_stage"):
        import_crm_csv(engine, folder, anchor=ANCHOR)
    assert is_empty(engine)
