"""Writable targets of the renewal-risk lane: a note, a follow-up task and the risk field."""

from decimal import Decimal

from contracts import ActionKind, Operation
from policies.engine import LanePolicy, WritableTarget

RISK_VALUES = frozenset({"low", "medium", "high"})

POLICY = LanePolicy(
    lane="renewal_risk",
    targets=(
        WritableTarget(
            system="sandbox",
            object="note",
            operation=Operation.CREATE,
            kind=ActionKind.INTERNAL_NOTE,
            fields=frozenset({"parent_id", "account_id", "title", "body"}),
            required=frozenset({"parent_id", "body"}),
            references=frozenset({"parent_id", "account_id"}),
        ),
        WritableTarget(
            system="sandbox",
            object="task",
            operation=Operation.CREATE,
            kind=ActionKind.FOLLOW_UP_TASK,
            fields=frozenset(
                {"what_id", "account_id", "owner_id", "subject", "description", "due_date"}
            ),
            required=frozenset({"what_id", "subject", "due_date"}),
            references=frozenset({"what_id", "account_id"}),
        ),
        WritableTarget(
            system="sandbox",
            object="opportunity",
            operation=Operation.UPDATE,
            kind=ActionKind.RISK_FIELD,
            fields=frozenset({"renewal_risk"}),
            required=frozenset({"renewal_risk"}),
            allowed_values={"renewal_risk": RISK_VALUES},
        ),
    ),
    required_context=frozenset({"owner_id", "renewal_date", "contract_value"}),
    min_confidence=0.6,
    high_value_field="contract_value",
    high_value_threshold=Decimal("100000"),
    disagreement_field="crm_erp_disagreements",
    max_task_due_days=30,
    default_reviewer_roles=("revops", "sales_manager"),
)
