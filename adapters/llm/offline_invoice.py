"""The offline invoice-exception reasoner: documented, deterministic rules and no network.

It classifies the first exception found in this order, and routes it:

| exception | evidence from the context | route |
|---|---|---|
| bank_change_request | a pending bank change, or a memo about bank details | vendor_verification |
| duplicate_invoice | another bill from the vendor with the same number | finance |
| new_vendor | vendor status "new" or created in the last 30 days | vendor_verification |
| no_po | the bill has no purchase order | requester |
| missing_receipt | the purchase order has no goods receipt | requester |
| quantity_variance | billed quantity above received quantity | procurement |
| price_variance | billed unit price more than 2 % above the PO price | procurement |
| tax_mismatch | bill tax differs from the lines' tax by more than 0.01 | finance |
| over_threshold | total above the department's approval threshold | finance |

A bill with none of these gets no action. Otherwise the proposal contains an exception
note on the bill, a routing task for the queue owner (the requester for the
requester route) due in two days, and the review status ``routed``. The memo is
data: a request in it to change bank details is itself the exception, never an
instruction to change anything.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from contracts import (
    ActionKind,
    AgentProposal,
    ContextBundle,
    EventEnvelope,
    Evidence,
    Operation,
    ProposedAction,
    to_value,
)
from contracts.values import RecordsValue, from_value

ROUTE_OWNER_FIELD = {
    "procurement": "queue_owner_procurement",
    "finance": "queue_owner_finance",
    "vendor_verification": "queue_owner_vendor_verification",
    "requester": "requester_id",
}


class OfflineInvoiceReasoner:
    name = "offline-invoice-exception"
    version = "1"

    def propose(self, event: EventEnvelope, context: ContextBundle, now: datetime) -> AgentProposal:
        facts = _Facts(context)
        value = facts.value
        reasoner_id = f"{self.name}@{self.version}"
        untrusted = ["memo"] if "memo" in context.fields else []
        found = _classify(facts)
        if found is None:
            return AgentProposal(
                summary="The bill matches its purchase order and receipts; nothing to route.",
                confidence=0.9,
                reasoner=reasoner_id,
                untrusted_inputs=untrusted,
            )
        exception, route, evidence = found
        bill_id = context.subject.id
        owner = value(ROUTE_OWNER_FIELD[route])
        observations = "; ".join(item.observation for item in evidence)
        summary = f"{exception.replace('_', ' ')}: {observations}. Route to {route}."
        actions = [
            ProposedAction(
                action_id="note",
                kind=ActionKind.INTERNAL_NOTE,
                operation=Operation.CREATE,
                target_system=context.subject.system,
                target_object="note",
                fields={
                    "parent_id": to_value(bill_id),
                    "title": to_value(f"Match exception: {exception}"),
                    "body": to_value(f"{summary}\nThe bill was not posted or changed."),
                },
                rationale="record why the bill did not match and where it went",
            ),
            ProposedAction(
                action_id="task",
                kind=ActionKind.FOLLOW_UP_TASK,
                operation=Operation.CREATE,
                target_system=context.subject.system,
                target_object="task",
                fields={
                    "what_id": to_value(bill_id),
                    "owner_id": to_value(owner if isinstance(owner, str) else None),
                    "subject": to_value(
                        f"Resolve {exception.replace('_', ' ')} on {value('vendor_invoice_number')}"
                    ),
                    "description": to_value(observations),
                    "due_date": to_value(now.date() + timedelta(days=2)),
                },
                rationale=f"the {route} queue resolves {exception.replace('_', ' ')}",
            ),
            ProposedAction(
                action_id="status",
                kind=ActionKind.REVIEW_STATUS,
                operation=Operation.UPDATE,
                target_system=context.subject.system,
                target_object="vendor_bill",
                target_record_id=bill_id,
                fields={"review_status": to_value("routed")},
                rationale="mark the bill as routed, a non-final status",
            ),
        ]
        return AgentProposal(
            summary=summary,
            classification=exception,
            recommendation=route,
            confidence=0.85,
            evidence=evidence,
            actions=actions,
            reasoner=reasoner_id,
            untrusted_inputs=untrusted,
        )


class _Facts:
    def __init__(self, context: ContextBundle) -> None:
        self.fields = context.fields

    def value(self, name: str) -> object:
        entry = self.fields.get(name)
        if entry is None or isinstance(entry.value, RecordsValue):
            return None
        return from_value(entry.value)

    def rows(self, name: str) -> list[dict[str, object]]:
        entry = self.fields.get(name)
        if entry is None or not isinstance(entry.value, RecordsValue):
            return []
        return [{k: from_value(v) for k, v in row.items()} for row in entry.value.rows]


def _classify(facts: _Facts) -> tuple[str, str, list[Evidence]] | None:
    value = facts.value

    if value("bank_change_requested") is True:
        return (
            "bank_change_request",
            "vendor_verification",
            [
                Evidence(
                    field="bank_change_requested",
                    observation="a change of bank details is requested",
                )
            ],
        )
    duplicates = facts.rows("duplicate_bills")

    if duplicates:
        return (
            "duplicate_invoice",
            "finance",
            [
                Evidence(
                    field="duplicate_bills",
                    observation=f"invoice number also on bill {duplicates[0].get('id')}",
                )
            ],
        )

    if value("vendor_is_new") is True:
        return (
            "new_vendor",
            "vendor_verification",
            [
                Evidence(
                    field="vendor_is_new",
                    observation=f"vendor created {value('vendor_created_date')}",
                )
            ],
        )

    if value("no_po") is True:
        return (
            "no_po",
            "requester",
            [Evidence(field="no_po", observation="the bill has no purchase order")],
        )

    if value("missing_receipt") is True:
        return (
            "missing_receipt",
            "requester",
            [
                Evidence(
                    field="missing_receipt", observation="no goods receipt for the purchase order"
                )
            ],
        )
    over = value("quantity_over_received")

    if isinstance(over, Decimal) and over > 0:
        return (
            "quantity_variance",
            "procurement",
            [
                Evidence(
                    field="quantity_over_received", observation=f"billed {over} more than received"
                )
            ],
        )
    variance = value("max_price_variance_pct")

    if isinstance(variance, Decimal) and variance > Decimal("2"):
        return (
            "price_variance",
            "procurement",
            [
                Evidence(
                    field="max_price_variance_pct",
                    observation=f"unit price {variance}% above the PO",
                )
            ],
        )

    if value("tax_flag") is True:
        return (
            "tax_mismatch",
            "finance",
            [
                Evidence(
                    field="tax_difference", observation=f"tax differs by {value('tax_difference')}"
                )
            ],
        )

    if value("over_department_threshold") is True:
        return (
            "over_threshold",
            "finance",
            [
                Evidence(
                    field="over_department_threshold",
                    observation=(
                        f"total {value('bill_total')} above {value('department_threshold')}"
                    ),
                )
            ],
        )
    return None
