"""Writable targets and review triggers of the invoice-exception lane.

The lane may add an exception note to a bill, give a routing task to a queue
owner and set the bill's non-final review status. Payment, vendor master,
bank and tax data are protected, whatever the agent proposes or a reviewer edits.
"""

from decimal import Decimal

from contracts import ActionKind, Operation
from policies.engine import FlagTrigger, LanePolicy, Protected, WritableTarget

# Non-final statuses only: approving or posting a bill stays with people in the ERP.
REVIEW_STATUSES = frozenset({"in_review", "awaiting_info", "routed"})
FINANCE = ("finance",)

POLICY = LanePolicy(
    lane="invoice_exception",
    targets=(
        WritableTarget(
            system="sandbox",
            object="note",
            operation=Operation.CREATE,
            kind=ActionKind.INTERNAL_NOTE,
            fields=frozenset({"parent_id", "title", "body"}),
            required=frozenset({"parent_id", "body"}),
            references=frozenset({"parent_id"}),
        ),
        WritableTarget(
            system="sandbox",
            object="task",
            operation=Operation.CREATE,
            kind=ActionKind.FOLLOW_UP_TASK,
            fields=frozenset({"what_id", "owner_id", "subject", "description", "due_date"}),
            required=frozenset({"what_id", "subject", "due_date"}),
            references=frozenset({"what_id"}),
        ),
        WritableTarget(
            system="sandbox",
            object="vendor_bill",
            operation=Operation.UPDATE,
            kind=ActionKind.REVIEW_STATUS,
            fields=frozenset({"review_status"}),
            required=frozenset({"review_status"}),
            allowed_values={"review_status": REVIEW_STATUSES},
        ),
    ),
    protected=(
        Protected(
            object="vendor",
            rule_id="invoice.vendor_master.block",
            reason="vendor master data, bank details and tax ids are never changed by a lane",
        ),
        Protected(
            object="vendor_bank_change",
            rule_id="invoice.bank_details.block",
            reason="bank detail changes are verified by people outside this lane",
        ),
        Protected(
            object="vendor_bill",
            fields=frozenset(
                {
                    "posted",
                    "payment_hold",
                    "total",
                    "subtotal",
                    "tax_amount",
                    "due_date",
                    "vendor_id",
                    "currency",
                    "match_status",
                    "purchase_order_id",
                }
            ),
            rule_id="invoice.payment_data.block",
            reason="amounts, tax, payment terms and posting of a bill are never changed by a lane",
        ),
    ),
    required_context=frozenset({"bill_total", "vendor_status", "requester_id"}),
    min_confidence=0.6,
    max_task_due_days=14,
    default_reviewer_roles=("ap_specialist", "finance"),
    review_sensitive_terms=False,
    flag_triggers=(
        FlagTrigger(
            "trigger.bank_change_request",
            "bank_change_requested",
            "the bill or vendor carries a request to change bank details",
            reviewer_roles=FINANCE,
        ),
        FlagTrigger(
            "trigger.tax_flag",
            "tax_flag",
            "the bill's tax does not match its lines",
            reviewer_roles=FINANCE,
        ),
        FlagTrigger(
            "trigger.over_threshold",
            "over_department_threshold",
            "the bill total is above the department's approval threshold",
            reviewer_roles=FINANCE,
        ),
        FlagTrigger("trigger.new_vendor", "vendor_is_new", "the vendor is new"),
        FlagTrigger(
            "trigger.po_mismatch", "po_mismatch", "the bill does not match its purchase order"
        ),
    ),
    high_value_field="bill_total",
    high_value_threshold=Decimal("250000"),
)
