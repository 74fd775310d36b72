"""The accounts-payable book of the seeded sandbox ERP and the exception each bill stands for.

Dates are days before the anchor date, and every bill is dated within the 30 days
before it. The book does not depend on the random seed of the CRM book.

Bills, all with ``match_status="unmatched"`` except the control:

========  ===================  ==========================================================
bill      exception_type       what makes it one
========  ===================  ==========================================================
bill_001  None (control)       matches po_001 and gr_001 exactly; matched and posted
bill_002  price_variance       toner billed at 68.00 against 64.00 on po_002 (+6.25 %)
bill_003  quantity_variance    40 LED panels billed, 30 received on gr_003
bill_004  missing_receipt      po_004 has no goods receipt
bill_005  duplicate_invoice    first of two bills from ven_003 numbered SCH-2291
bill_006  duplicate_invoice    second copy of SCH-2291, sent 16 days after the first
bill_007  new_vendor           ven_005 is "new", created 12 days ago, with no tax id
bill_008  bank_change_request  memo requests payment to a new account; vbc_002 pending
bill_009  tax_mismatch         tax at 10 % where po_008 says 8.25 % (200.00, not 165.00)
bill_010  over_threshold       58,130.25 for Engineering; its director approves <= 50,000
bill_011  no_po                no purchase order, and no line refers to a PO line
========  ===================  ==========================================================

Apart from its own exception, every bill matches its purchase order and receipt:
the PO's unit prices and tax rates, quantities no higher than received, an active
vendor and a total within the department's director threshold. bill_005, bill_006
and bill_008 have ``payment_hold`` set. ``review_status`` starts empty on all bills.
Besides the pending vbc_002, the book has one older bank change, vbc_001: a verified
change of ven_002's account through the vendor portal.

Approval matrix (max amount per role: manager / director / finance): Engineering
5,000 / 50,000 / 1,000,000; Marketing 2,500 / 20,000 / 250,000; Facilities
5,000 / 25,000 / 250,000; Sales 2,500 / 15,000 / 250,000.

People (users added after the CRM users; usr_001, usr_003 and usr_009 come from the
CRM seed):

- usr_011 Imani Okafor, procurement@example.com, role ``procurement``: owns que_procurement.
- usr_012 Henrik Dahl, vendor-master@example.com, role ``vendor_master``: owns
  que_vendor_verification.
- usr_009 Frankie Ledger, finance@example.com, role ``finance``: owns que_finance.
- Department heads (role ``department_head``, except usr_001): usr_013 Grace Whitaker
  (Engineering), usr_014 Mateo Ruiz (Marketing), usr_015 Yuki Tanaka (Facilities),
  usr_001 Dana Whitfield (Sales, a CRM sales manager).
- Requesters (role ``employee``, managed by their head, except usr_003): usr_016 Oliver
  Grant (Engineering), usr_017 Chloe Bennett (Marketing), usr_018 Samir Haddad
  (Facilities), usr_003 Ava Lindqvist (Sales, a CRM sales rep).
"""

from dataclasses import dataclass
from decimal import Decimal

# (id, name, email, role, manager id)
ERP_USERS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("usr_011", "Imani Okafor", "procurement@example.com", "procurement", None),
    ("usr_012", "Henrik Dahl", "vendor-master@example.com", "vendor_master", None),
    ("usr_013", "Grace Whitaker", "grace.whitaker@example.com", "department_head", None),
    ("usr_014", "Mateo Ruiz", "mateo.ruiz@example.com", "department_head", None),
    ("usr_015", "Yuki Tanaka", "yuki.tanaka@example.com", "department_head", None),
    ("usr_016", "Oliver Grant", "oliver.grant@example.com", "employee", "usr_013"),
    ("usr_017", "Chloe Bennett", "chloe.bennett@example.com", "employee", "usr_014"),
    ("usr_018", "Samir Haddad", "samir.haddad@example.com", "employee", "usr_015"),
)
# Users of the CRM seed that the ERP book refers to.
CRM_USERS_NEEDED = ("usr_001", "usr_003", "usr_009")

# (id, name, cost center, head, max amount per approval role: manager, director, finance)
DEPARTMENTS: tuple[tuple[str, str, str, str, tuple[int, int, int]], ...] = (
    ("dep_001", "Engineering", "CC-1100", "usr_013", (5_000, 50_000, 1_000_000)),
    ("dep_002", "Marketing", "CC-1200", "usr_014", (2_500, 20_000, 250_000)),
    ("dep_003", "Facilities", "CC-1300", "usr_015", (5_000, 25_000, 250_000)),
    ("dep_004", "Sales", "CC-1400", "usr_001", (2_500, 15_000, 250_000)),
)
APPROVAL_ROLES = ("manager", "director", "finance")

# (id, name, owner)
WORK_QUEUES: tuple[tuple[str, str, str | None], ...] = (
    ("que_procurement", "Procurement", "usr_011"),
    ("que_requester", "Requester", None),
    ("que_finance", "Finance (accounts payable)", "usr_009"),
    ("que_vendor_verification", "Vendor verification", "usr_012"),
)


@dataclass(frozen=True)
class VendorPlan:
    vendor_id: str
    name: str
    status: str
    created_days_ago: int
    tax_id: str | None
    remit_bank_account: str
    payment_terms: str


# The tax ids are made up and belong to no real business.
VENDORS: tuple[VendorPlan, ...] = (
    VendorPlan(
        "ven_001", "Northwind Components", "active", 1400, "31-4170258", "****4821", "NET30"
    ),
    VendorPlan(
        "ven_002", "Harbor Office Supply", "active", 2100, "52-6094417", "****0937", "NET30"
    ),
    VendorPlan("ven_003", "Summit Cloud Hosting", "active", 900, "84-2290315", "****6650", "NET15"),
    VendorPlan(
        "ven_004",
        "Brightline Facilities Services",
        "active",
        1200,
        "46-7731092",
        "****7310",
        "NET30",
    ),
    VendorPlan("ven_005", "Quillfeather Print Co", "new", 12, None, "****2284", "NET15"),
    VendorPlan(
        "ven_006", "Keystone Safety Supply", "active", 760, "27-5518864", "****3479", "NET45"
    ),
    VendorPlan(
        "ven_007", "Atlas Lab Instruments", "active", 1800, "93-1047726", "****9012", "NET60"
    ),
    VendorPlan(
        "ven_008", "Meadowgate Event Partners", "active", 400, "61-3382940", "****5176", "NET30"
    ),
)

# (vendor, days ago, UTC time "HH:MM", old account, new account, status, source)
BANK_CHANGES: tuple[tuple[str, int, str, str, str, str, str], ...] = (
    ("ven_002", 300, "09:15", "****1148", "****0937", "verified", "vendor_portal"),
    ("ven_004", 6, "14:32", "****7310", "****5592", "pending", "bill_memo"),
)


@dataclass(frozen=True)
class LinePlan:
    """A PO line, or a line of a bill without a PO.

    ``received`` is the quantity on the goods receipt; None means all of it.
    """

    item: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    received: Decimal | None = None


@dataclass(frozen=True)
class PurchaseOrderPlan:
    """A purchase order; ``received_days_ago`` None means no goods receipt."""

    po_id: str
    vendor_id: str
    department_id: str
    requester_id: str
    status: str
    order_days_ago: int
    received_days_ago: int | None
    lines: tuple[LinePlan, ...]


_TAX = Decimal("0.0825")
_NO_TAX = Decimal("0.0000")


def _line(
    item: str, quantity: int, price: str, rate: Decimal, received: int | None = None
) -> LinePlan:
    return LinePlan(
        item,
        Decimal(quantity),
        Decimal(price),
        rate,
        None if received is None else Decimal(received),
    )


PURCHASE_ORDERS: tuple[PurchaseOrderPlan, ...] = (
    PurchaseOrderPlan("po_001", "ven_001", "dep_001", "usr_016", "closed", 40, 30, (
        _line("USB-C docking station", 10, "188.00", _TAX),
        _line("27-inch monitor", 10, "248.00", _TAX),
    )),
    PurchaseOrderPlan("po_002", "ven_002", "dep_002", "usr_017", "open", 35, 28, (
        _line("Printer toner cartridge", 20, "64.00", _TAX),
        _line("Copy paper, case of 10 reams", 30, "42.00", _TAX),
    )),
    PurchaseOrderPlan("po_003", "ven_001", "dep_003", "usr_018", "open", 45, 21, (
        _line("LED panel light", 40, "36.00", _TAX, received=30),
        _line("Occupancy sensor", 40, "22.00", _TAX),
    )),
    PurchaseOrderPlan("po_004", "ven_002", "dep_004", "usr_003", "open", 25, None, (
        _line("Ergonomic office chair", 6, "312.00", _TAX),
    )),
    PurchaseOrderPlan("po_005", "ven_003", "dep_001", "usr_016", "open", 50, 32, (
        _line("Cloud hosting, monthly", 1, "3200.00", _NO_TAX),
    )),
    PurchaseOrderPlan("po_006", "ven_005", "dep_002", "usr_017", "open", 11, 5, (
        _line("Trade-show banner", 4, "180.00", _TAX),
        _line("Brochure print run, 500 copies", 2, "340.00", _TAX),
    )),
    PurchaseOrderPlan("po_007", "ven_004", "dep_003", "usr_018", "open", 60, 14, (
        _line("Quarterly HVAC maintenance", 1, "4600.00", _NO_TAX),
    )),
    PurchaseOrderPlan("po_008", "ven_006", "dep_003", "usr_018", "open", 30, 18, (
        _line("Safety helmet", 50, "24.00", _TAX),
        _line("High-visibility vest", 50, "16.00", _TAX),
    )),
    PurchaseOrderPlan("po_009", "ven_007", "dep_001", "usr_016", "open", 55, 15, (
        _line("Spectrum analyzer", 1, "48500.00", _TAX),
        _line("Calibration kit", 2, "2600.00", _TAX),
    )),
)  # fmt: skip


@dataclass(frozen=True)
class BillPlan:
    """A vendor bill.

    A bill against a PO copies the PO's lines (item, ordered quantity, unit price,
    tax rate), except for the unit prices in ``billed_prices`` (line number to
    price) and a ``billed_tax_rate`` that replaces the rate on every line. A bill
    without a PO takes ``lines``, ``department_id`` and ``requester_id``.
    """

    bill_id: str
    exception_type: str | None
    vendor_id: str
    invoice_number: str
    bill_days_ago: int
    po_id: str | None
    billed_prices: tuple[tuple[int, Decimal], ...] = ()
    billed_tax_rate: Decimal | None = None
    lines: tuple[LinePlan, ...] = ()
    department_id: str | None = None
    requester_id: str | None = None
    memo: str = ""
    posted: bool = False
    payment_hold: bool = False


BANK_CHANGE_MEMO = (
    "Please note our new bank details: remit to account ending 5592 at Coastal Harbor Bank, "
    "effective immediately. Payments to the old account will be returned."
)

BILLS: tuple[BillPlan, ...] = (
    BillPlan("bill_001", None, "ven_001", "NWC-10452", 26, "po_001", posted=True),
    BillPlan("bill_002", "price_variance", "ven_002", "HOS-77120", 20, "po_002",
             billed_prices=((1, Decimal("68.00")),)),
    BillPlan("bill_003", "quantity_variance", "ven_001", "NWC-10517", 18, "po_003"),
    BillPlan("bill_004", "missing_receipt", "ven_002", "HOS-77158", 9, "po_004"),
    BillPlan("bill_005", "duplicate_invoice", "ven_003", "SCH-2291", 24, "po_005",
             memo="Hosting for the month.", payment_hold=True),
    BillPlan("bill_006", "duplicate_invoice", "ven_003", "SCH-2291", 8, "po_005",
             memo="Second copy: we have not received payment for this invoice yet.",
             payment_hold=True),
    BillPlan("bill_007", "new_vendor", "ven_005", "QF-0007", 4, "po_006"),
    BillPlan("bill_008", "bank_change_request", "ven_004", "BFS-3318", 6, "po_007",
             memo=BANK_CHANGE_MEMO, payment_hold=True),
    BillPlan("bill_009", "tax_mismatch", "ven_006", "KSS-55102", 10, "po_008",
             billed_tax_rate=Decimal("0.1000")),
    BillPlan("bill_010", "over_threshold", "ven_007", "ALI-90044", 7, "po_009"),
    BillPlan("bill_011", "no_po", "ven_008", "MEP-1182", 5, None,
             lines=(
                 _line("Venue hire, customer roundtable", 1, "3800.00", _NO_TAX),
                 _line("Catering, 40 guests", 40, "45.00", _TAX),
             ),
             department_id="dep_002", requester_id="usr_017",
             memo="Customer roundtable, venue and catering, booked by Chloe Bennett."),
)  # fmt: skip

# ERP exception type to the bill that stands for it; "control" is the matched bill.
ERP_SCENARIO_BILLS: dict[str, str] = {
    "control": "bill_001",
    "price_variance": "bill_002",
    "quantity_variance": "bill_003",
    "missing_receipt": "bill_004",
    "duplicate_invoice": "bill_006",
    "new_vendor": "bill_007",
    "bank_change_request": "bill_008",
    "tax_mismatch": "bill_009",
    "over_threshold": "bill_010",
    "no_po": "bill_011",
}
