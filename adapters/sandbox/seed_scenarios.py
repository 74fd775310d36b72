"""The accounts of the seeded sandbox book and the scenario each one stands for.

Renewal dates are given in days after the anchor date. The renewal window of the
demo lane is ``anchor < renewal_date <= anchor + 60``; 20 accounts fall inside it.
"Usage change" compares the last of six monthly usage summaries with the first.

Scenario accounts, all inside the window unless stated:

- acc_001, acc_002, acc_003 healthy: usage up 8-15%, no ticket above sev-4, invoices paid (low).
- acc_004, acc_005 moderate: usage down 10-20%, two open sev-3 tickets (medium).
- acc_006 at risk, high value (240,000): usage down 35-50%, open sev-1, overdue invoices (high).
- acc_007 at risk, below 100,000 (38,000): same signals, but renewal_risk is still "low" (high).
- acc_008 missing owner: account.owner_id and the renewal's owner_id are empty.
- acc_009 stale dates: last activity 150 days ago, close_date 20 days in the past, still open.
- acc_010 ERP disagrees: ERP name "LARKSPUR TRADING LTD" and contract value 96,000 vs 120,000.
- acc_011 ERP blocked: CRM looks healthy, the ERP customer is blocked with a credit-hold invoice.
- acc_012 prompt injection: a note and a ticket ask to "mark low risk, email the CFO"; signals high.
- acc_013 already renewed: renewal stage "Closed Won", with the follow-on contract in place.
- acc_014 no usage data: no usage_summary rows at all.
- acc_015 renews exactly 60 days after the anchor (the last day inside the window).
- acc_016 to acc_020: ordinary accounts inside the window; acc_017's renewal has no amount.
- acc_021 renews 61 days after the anchor (the first day outside the window).
- acc_022 to acc_026: 62-120 days out; acc_022 has no ERP customer, acc_024 has an inactive owner.
- acc_027 renews on the anchor date itself (outside, because the window starts after the anchor).
- acc_028 to acc_030: past renewals: renewed, lapsed in "Negotiation", churned ("Closed Lost").
"""

from dataclasses import dataclass
from typing import Literal

UsageTrend = Literal["growing", "flat", "declining", "collapsing"]
TicketLoad = Literal["none", "minor", "moderate", "severe"]
ErpState = Literal["match", "mismatch", "blocked", "overdue", "absent"]


@dataclass(frozen=True)
class AccountPlan:
    """The plan for one seeded account, its contract, renewal and related records.

    ``value`` is the annual contract value in USD and ``days`` the renewal date minus
    the anchor. When either is None, the seed draws it from its random generator.
    A ``usage`` of None means no usage data at all.
    """

    account_id: str
    name: str
    scenario: str
    days: int | None = None
    value: int | None = None
    usage: UsageTrend | None = "flat"
    tickets: TicketLoad = "none"
    erp: ErpState = "match"
    stage: str = "Negotiation"
    has_owner: bool = True
    stale: bool = False
    injection: bool = False
    renewal_risk: str | None = None
    renewal_amount_missing: bool = False
    owner_inactive: bool = False


# fmt: off
ACCOUNT_PLANS: tuple[AccountPlan, ...] = (
    AccountPlan("acc_001", "Alderbrook Health", "healthy", days=12, value=180_000,
                usage="growing", tickets="minor"),
    AccountPlan("acc_002", "Brightwater Logistics", "healthy", days=25, value=42_000,
                usage="growing"),
    AccountPlan("acc_003", "Cobalt Ridge Software", "healthy", days=47, value=9_500,
                usage="growing", tickets="minor"),
    AccountPlan("acc_004", "Driftwood Retail Group", "moderate", days=18, value=64_000,
                usage="declining", tickets="moderate"),
    AccountPlan("acc_005", "Ember Analytics", "moderate", days=39, value=135_000,
                usage="declining", tickets="moderate", stage="Proposal"),
    AccountPlan("acc_006", "Fairhaven Manufacturing", "at_risk_high_value", days=9,
                value=240_000, usage="collapsing", tickets="severe", erp="overdue"),
    AccountPlan("acc_007", "Granite Peak Insurance", "at_risk", days=33, value=38_000,
                usage="collapsing", tickets="severe", erp="overdue", renewal_risk="low"),
    AccountPlan("acc_008", "Harborlight Media", "missing_owner", days=21, value=27_500,
                has_owner=False),
    AccountPlan("acc_009", "Ironleaf Foods", "stale_dates", days=28, value=55_000,
                stage="Proposal", stale=True),
    AccountPlan("acc_010", "Larkspur Traders", "erp_mismatch", days=15, value=120_000,
                usage="growing", erp="mismatch"),
    AccountPlan("acc_011", "Juniper Freight", "erp_blocked", days=36, value=73_000,
                usage="growing", erp="blocked"),
    AccountPlan("acc_012", "Kestrel Biotech", "prompt_injection", days=44, value=88_000,
                usage="collapsing", tickets="severe", erp="overdue", injection=True),
    AccountPlan("acc_013", "Lumen Schools Trust", "already_renewed", days=20, value=31_000,
                usage="growing", stage="Closed Won"),
    AccountPlan("acc_014", "Meridian Outfitters", "no_usage_data", days=52, value=18_000,
                usage=None),
    AccountPlan("acc_015", "Nimbus Energy", "window_last_day", days=60, value=210_000,
                usage="growing"),
    AccountPlan("acc_016", "Oakline Dental", "ordinary"),
    AccountPlan("acc_017", "Pinecrest Hotels", "ordinary", renewal_amount_missing=True),
    AccountPlan("acc_018", "Quarry Lane Builders", "ordinary"),
    AccountPlan("acc_019", "Redfern Pharmacy", "ordinary"),
    AccountPlan("acc_020", "Silverline Telecom", "ordinary"),
    AccountPlan("acc_021", "Tidewater Marine", "window_first_day_after", days=61, value=47_000),
    AccountPlan("acc_022", "Upland Agritech", "outside_window", erp="absent"),
    AccountPlan("acc_023", "Vantage Legal", "outside_window"),
    AccountPlan("acc_024", "Willowmere Clinics", "outside_window", owner_inactive=True),
    AccountPlan("acc_025", "Yellowpine Outdoors", "outside_window"),
    AccountPlan("acc_026", "Zephyr Aerospace", "outside_window", value=395_000),
    AccountPlan("acc_027", "Bluestem Credit Union", "renews_on_anchor", days=0, value=66_000),
    AccountPlan("acc_028", "Copperfield Mining", "past_renewed", days=-35, stage="Closed Won"),
    AccountPlan("acc_029", "Duskwood Games", "past_lapsed", days=-18, erp="absent"),
    AccountPlan("acc_030", "Evergreen Property", "past_churned", days=-70, stage="Closed Lost",
                usage="declining"),
)
# fmt: on

# Scenario name to account id, for tests and demos that look for one case.
SCENARIO_ACCOUNTS: dict[str, list[str]] = {}
for _plan in ACCOUNT_PLANS:
    SCENARIO_ACCOUNTS.setdefault(_plan.scenario, []).append(_plan.account_id)

# Range of renewal dates, in days after the anchor, for plans whose ``days`` is None.
RENEWAL_DAY_RANGES: dict[str, tuple[int, int]] = {
    "ordinary": (1, 59),
    "outside_window": (62, 120),
}
