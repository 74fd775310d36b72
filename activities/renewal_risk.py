"""Context and window scan of the renewal-risk lane.

The context is the declared fields of one renewal opportunity.

Each value records the object, record id and field it came from.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from activities.scan_events import scan_event
from activities.scoped_reader import ScopedReader
from adapters.base import Filter, Row, SystemOfRecord
from contracts import (
    ContextBundle,
    ContextField,
    EventEnvelope,
    RecordRef,
    RecordsValue,
    ScanInput,
    SourceRef,
    to_value,
)
from contracts.values import NullValue

# Free text is cut so one long ticket cannot crowd out the rest of the context.
MAX_TEXT = 500
# Relative difference between the ERP's billed value and the CRM contract value
# above which the two systems count as disagreeing.
VALUE_TOLERANCE = Decimal("0.10")


class _Bundle:
    def __init__(self, reader: ScopedReader) -> None:
        self.reader = reader
        self.fields: dict[str, ContextField] = {}
        self.missing: list[str] = []

    def put(
        self, name: str, raw: object, sources: list[SourceRef], *, untrusted: bool = False
    ) -> None:
        value = to_value(raw, untrusted=untrusted)
        if isinstance(value, NullValue):
            self.missing.append(name)
        self.fields[name] = ContextField(value=value, sources=sources)

    def put_rows(self, name: str, rows: list[dict[str, object]], sources: list[SourceRef]) -> None:
        typed = [
            {key: to_value(raw, untrusted=key in ("body", "subject")) for key, raw in row.items()}
            for row in rows
        ]
        self.fields[name] = ContextField(value=RecordsValue(rows=typed), sources=sources)


def build_context(reader: ScopedReader, event: EventEnvelope, now: datetime) -> ContextBundle:
    """Read the renewal opportunity named by the event and everything the lane declared."""
    bundle = _Bundle(reader)
    src = reader.source
    opp_id = event.source_record_id
    opp = reader.read("opportunity", opp_id, reader.declared("opportunity"))
    in_scope = [RecordRef(system=reader.system, object="opportunity", id=opp_id)]

    for name in ("stage", "forecast_category", "renewal_date", "close_date", "last_activity_date"):
        bundle.put(
            f"opportunity_{name}" if name in ("stage",) else name,
            opp[name],
            [src("opportunity", opp_id, name)],
        )
    bundle.put("opportunity_name", opp["name"], [src("opportunity", opp_id, "name")])
    bundle.put("current_risk", opp["renewal_risk"], [src("opportunity", opp_id, "renewal_risk")])

    account_id = opp["account_id"]
    account: Row = {}
    if isinstance(account_id, str):
        account = reader.read("account", account_id, reader.declared("account"))
        in_scope.append(RecordRef(system=reader.system, object="account", id=account_id))
        bundle.put("account_id", account_id, [src("opportunity", opp_id, "account_id")])
        bundle.put("account_name", account["name"], [src("account", account_id, "name")])
        bundle.put("account_segment", account["segment"], [src("account", account_id, "segment")])
    else:
        for name in ("account_id", "account_name", "account_segment"):
            bundle.put(name, None, [src("opportunity", opp_id, "account_id")])

    # The opportunity owner wins; the account owner is the fallback.
    owner_id = opp["owner_id"] or account.get("owner_id")
    owner_source = (
        src("opportunity", opp_id, "owner_id")
        if opp["owner_id"]
        else src("account", str(account_id), "owner_id")
    )
    owner: Row = {}
    if isinstance(owner_id, str):
        owner = reader.read("user", owner_id, ["name", "email", "active"])
        in_scope.append(RecordRef(system=reader.system, object="user", id=owner_id))
    bundle.put("owner_id", owner_id if owner.get("active") else None, [owner_source])
    bundle.put("owner_name", owner.get("name"), [src("user", str(owner_id), "name")])
    bundle.put("owner_email", owner.get("email"), [src("user", str(owner_id), "email")])

    _contract(bundle, opp, opp_id)
    if isinstance(account_id, str):
        _other_opportunities(bundle, account_id, opp_id, now.date())
        _tickets(bundle, account_id)
        _usage(bundle, account_id, now.date())
        _meetings(bundle, account_id)
        _erp(bundle, account, account_id)

    return ContextBundle(
        lane=event.workflow,
        subject=RecordRef(system=reader.system, object="opportunity", id=opp_id),
        fields=bundle.fields,
        missing=sorted(set(bundle.missing)),
        fetched_at=reader.fetched_at,
        records_in_scope=in_scope,
    )


def _contract(bundle: _Bundle, opp: Row, opp_id: str) -> None:
    src = bundle.reader.source
    contract_id = opp["contract_id"]
    if isinstance(contract_id, str):
        contract = bundle.reader.read("contract", contract_id, ["annual_value", "end_date"])
        bundle.put(
            "contract_value",
            contract["annual_value"],
            [src("contract", contract_id, "annual_value")],
        )
        bundle.put(
            "contract_end_date", contract["end_date"], [src("contract", contract_id, "end_date")]
        )
    else:
        # Without a contract record, the renewal amount is the best CRM figure.
        bundle.put("contract_value", opp["amount"], [src("opportunity", opp_id, "amount")])
        bundle.put("contract_end_date", None, [src("opportunity", opp_id, "contract_id")])


def _other_opportunities(bundle: _Bundle, account_id: str, opp_id: str, today: date) -> None:
    """Open deals besides the renewal (expansion pipeline) and deals lost in the last year."""
    src = bundle.reader.source
    open_rows = bundle.reader.query(
        "opportunity",
        fields=["name", "stage", "amount", "close_date"],
        where=[
            Filter("account_id", "eq", account_id),
            Filter("stage", "ne", "Closed Won"),
            Filter("stage", "ne", "Closed Lost"),
            Filter("id", "ne", opp_id),
        ],
        order_by="close_date",
        limit=20,
    )
    bundle.put_rows(
        "open_opportunities",
        [{k: row[k] for k in ("id", "name", "stage", "amount", "close_date")} for row in open_rows],
        [src("opportunity", str(row["id"]), "stage") for row in open_rows]
        or [src("account", account_id, "id")],
    )
    lost = bundle.reader.query(
        "opportunity",
        fields=["stage", "close_date"],
        where=[
            Filter("account_id", "eq", account_id),
            Filter("stage", "eq", "Closed Lost"),
            Filter("close_date", "ge", today - timedelta(days=365)),
        ],
        limit=200,
    )
    bundle.put(
        "lost_deals_last_year",
        len(lost),
        [src("opportunity", str(row["id"]), "stage") for row in lost]
        or [src("account", account_id, "id")],
    )


def _tickets(bundle: _Bundle, account_id: str) -> None:
    src = bundle.reader.source
    rows = bundle.reader.query(
        "support_ticket",
        fields=["subject", "body", "severity", "status", "opened_at"],
        where=[Filter("account_id", "eq", account_id), Filter("status", "in", ["open", "pending"])],
        order_by="opened_at",
        descending=True,
        limit=50,
    )
    sources = [src("support_ticket", str(row["id"]), "severity") for row in rows] or [
        src("account", account_id, "id")
    ]
    bundle.put("open_ticket_count", len(rows), sources)
    severities = [int(row["severity"]) for row in rows if isinstance(row["severity"], int)]
    bundle.put("worst_open_severity", min(severities) if severities else None, sources)
    bundle.put_rows(
        "recent_tickets",
        [
            {
                "id": row["id"],
                "severity": row["severity"],
                "subject": row["subject"],
                "body": str(row["body"] or "")[:MAX_TEXT],
                "opened_at": row["opened_at"],
            }
            for row in rows[:5]
        ],
        sources[:5],
    )


def _usage(bundle: _Bundle, account_id: str, today: date) -> None:
    src = bundle.reader.source
    rows = bundle.reader.query(
        "usage_summary",
        fields=["month", "active_users", "licensed_seats"],
        where=[
            Filter("account_id", "eq", account_id),
            Filter("month", "ge", today - timedelta(days=190)),
        ],
        order_by="month",
        limit=12,
    )
    sources = [src("usage_summary", str(row["id"]), "active_users") for row in rows] or [
        src("account", account_id, "id")
    ]
    trend: Decimal | None = None
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        before = Decimal(str(first["active_users"] or 0))
        if before > 0:
            after = Decimal(str(last["active_users"] or 0))
            trend = ((after - before) / before * 100).quantize(Decimal("0.1"))
    bundle.put("usage_trend_pct", trend, sources)
    bundle.put_rows(
        "usage_months",
        [
            {
                "month": r["month"],
                "active_users": r["active_users"],
                "licensed_seats": r["licensed_seats"],
            }
            for r in rows
        ],
        sources,
    )


def _meetings(bundle: _Bundle, account_id: str) -> None:
    src = bundle.reader.source
    rows = bundle.reader.query(
        "meeting_note",
        fields=["meeting_date", "body"],
        where=[Filter("account_id", "eq", account_id)],
        order_by="meeting_date",
        descending=True,
        limit=3,
    )
    sources = [src("meeting_note", str(row["id"]), "body") for row in rows] or [
        src("account", account_id, "id")
    ]
    bundle.put("last_meeting_date", rows[0]["meeting_date"] if rows else None, sources[:1])
    bundle.put_rows(
        "recent_meeting_notes",
        [
            {
                "id": r["id"],
                "meeting_date": r["meeting_date"],
                "body": str(r["body"] or "")[:MAX_TEXT],
            }
            for r in rows
        ],
        sources,
    )


def _erp(bundle: _Bundle, account: Row, account_id: str) -> None:
    src = bundle.reader.source
    customer_id = account.get("erp_customer_id")
    if not isinstance(customer_id, str):
        for name in (
            "erp_customer_status",
            "unpaid_invoice_total",
            "overdue_invoice_count",
            "credit_hold",
        ):
            bundle.put(name, None, [src("account", account_id, "erp_customer_id")])
        bundle.put_rows(
            "crm_erp_disagreements", [], [src("account", account_id, "erp_customer_id")]
        )
        return
    customer = bundle.reader.read("erp_customer", customer_id, ["name", "status", "contract_value"])
    bundle.put(
        "erp_customer_status", customer["status"], [src("erp_customer", customer_id, "status")]
    )
    invoices = bundle.reader.query(
        "ar_invoice",
        fields=["amount", "due_date", "paid", "credit_hold"],
        where=[Filter("erp_customer_id", "eq", customer_id), Filter("paid", "eq", False)],
        limit=100,
    )
    inv_sources = [src("ar_invoice", str(r["id"]), "amount") for r in invoices] or [
        src("erp_customer", customer_id, "id")
    ]
    unpaid = sum((Decimal(str(r["amount"])) for r in invoices), Decimal("0"))
    today = bundle.reader.fetched_at.date()
    overdue = [r for r in invoices if isinstance(r["due_date"], date) and r["due_date"] < today]
    bundle.put("unpaid_invoice_total", unpaid, inv_sources)
    bundle.put("overdue_invoice_count", len(overdue), inv_sources)
    bundle.put("credit_hold", any(bool(r["credit_hold"]) for r in invoices), inv_sources)

    disagreements: list[dict[str, object]] = []
    crm_name = account.get("name")
    if (
        isinstance(customer["name"], str)
        and customer["name"].strip().lower() != str(crm_name).strip().lower()
    ):
        disagreements.append({"field": "account_name", "crm": crm_name, "erp": customer["name"]})
    crm_value = bundle.fields.get("contract_value")
    erp_value = customer["contract_value"]
    if (
        crm_value is not None
        and crm_value.value.type == "decimal"
        and isinstance(erp_value, Decimal)
    ):
        crm_amount = crm_value.value.value
        if crm_amount and abs(erp_value - crm_amount) / crm_amount > VALUE_TOLERANCE:
            disagreements.append({"field": "contract_value", "crm": crm_amount, "erp": erp_value})
    if customer["status"] in ("blocked", "inactive"):
        disagreements.append(
            {"field": "customer_status", "crm": "active", "erp": customer["status"]}
        )
    bundle.put_rows(
        "crm_erp_disagreements",
        disagreements,
        [src("account", account_id, "name"), src("erp_customer", customer_id, "name")],
    )


def scan_renewals(
    system: SystemOfRecord, input: ScanInput, correlation_id: str
) -> list[EventEnvelope]:
    """Return one ``renewal_window_started`` event per renewal due within the window.

    The idempotency key is the system instance, the opportunity and its renewal
    date, so a daily scan emits each renewal once, a moved renewal date starts a
    new run, and a refreshed sandbox starts afresh.
    """
    as_of = input.as_of or datetime.now(UTC).date()
    rows = system.query(
        "opportunity",
        fields=["account_id", "renewal_date"],
        where=[
            Filter("renewal_date", "gt", as_of),
            Filter("renewal_date", "le", as_of + timedelta(days=input.window_days)),
        ],
        order_by="renewal_date",
        limit=5000,
    )
    return [
        scan_event(
            system,
            lane=input.lane,
            event_type="crm.opportunity.renewal_window_started",
            record_type="opportunity",
            record_id=str(row["id"]),
            key_suffix=str(row["renewal_date"]),
            as_of=as_of,
            correlation_id=correlation_id,
            account_id=row["account_id"] if isinstance(row["account_id"], str) else None,
        )
        for row in rows
    ]
