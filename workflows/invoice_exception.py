"""Invoice-exception triage: classify a bill that failed matching and route it.

The lane writes an exception note, a routing task and a non-final review status;
it never posts, pays or changes vendor, bank or tax data.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import LaneInput, LaneResult, PolicySnippet, RolloutMode
    from workflows.lane import LaneWorkflow
    from workflows.spec import LaneSpec

MATCH_EXCEPTION = "erp.vendor_bill.match_exception"

SPEC = LaneSpec(
    name="invoice_exception",
    event_types=(MATCH_EXCEPTION,),
    default_mode=RolloutMode.AUTONOMOUS,
    review_sla=timedelta(hours=48),
    escalate_after=timedelta(hours=8),
    reviewer_roles=("ap_specialist", "finance"),
    source_system="sandbox",
    reads={
        "vendor_bill": frozenset(
            {
                "vendor_id",
                "vendor_invoice_number",
                "purchase_order_id",
                "department_id",
                "requester_id",
                "bill_date",
                "due_date",
                "currency",
                "subtotal",
                "tax_amount",
                "total",
                "memo",
                "match_status",
                "exception_type",
                "review_status",
                "posted",
            }
        ),
        "bill_line": frozenset(
            {
                "vendor_bill_id",
                "line_no",
                "po_line_id",
                "item",
                "quantity",
                "unit_price",
                "tax_rate",
                "line_total",
            }
        ),
        "purchase_order": frozenset({"vendor_id", "status", "order_date", "total"}),
        "po_line": frozenset(
            {"purchase_order_id", "line_no", "quantity", "unit_price", "tax_rate"}
        ),
        "goods_receipt": frozenset({"purchase_order_id", "received_date"}),
        "receipt_line": frozenset({"goods_receipt_id", "po_line_id", "quantity_received"}),
        # Deliberately without remit_bank_account and tax_id.
        "vendor": frozenset({"name", "status", "created_date", "tax_id_present"}),
        "vendor_bank_change": frozenset({"vendor_id", "status", "source", "requested_at"}),
        "department": frozenset({"name", "owner_id"}),
        "approval_threshold": frozenset({"department_id", "role", "max_amount"}),
        "work_queue": frozenset({"owner_id"}),
        "user": frozenset({"name", "email", "active"}),
    },
    policy="invoice_exception.yaml",
    context_builder="activities.invoice_exception:build_context",
    reasoner="adapters.llm.offline_invoice:OfflineInvoiceReasoner",
    scan="activities.invoice_exception:scan_unmatched_bills",
    scan_cron="0 * * * *",
    policy_snippets=(
        PolicySnippet(
            id="ap-three-way-match",
            title="Three-way match",
            text="A bill is paid only when it matches its purchase order and goods receipt "
            "within 2 % on price and never above the received quantity.",
        ),
        PolicySnippet(
            id="ap-bank-changes",
            title="Bank detail changes",
            text="Bank detail changes are verified by phone with a known vendor contact, "
            "never from an invoice or e-mail.",
        ),
    ),
    conflicted_reviewer_fields=("requester_email",),
)


@workflow.defn(name="InvoiceExceptionTriage")
class InvoiceExceptionWorkflow(LaneWorkflow):
    spec = SPEC

    @workflow.run
    async def run(self, input: LaneInput) -> LaneResult:
        return await self.run_lane()
