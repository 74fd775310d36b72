"""Unit tests of the policy engine with the renewal-risk lane policy.

Each case builds one proposed action and a context bundle by hand and checks
the verdict and every rule id that fired, in evaluation order.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import (
    ActionKind,
    AgentProposal,
    ContextBundle,
    ContextField,
    DateValue,
    DecimalValue,
    FieldValue,
    IntegerValue,
    NullValue,
    Operation,
    ProposedAction,
    RecordRef,
    RecordsValue,
    SourceRef,
    TextValue,
    Verdict,
    to_value,
)
from contracts.values import ScalarValue
from handrail.policy_store import POLICY_DIR
from policies.engine import LanePolicy, WritableTarget, evaluate, load_policy

POLICY = load_policy(POLICY_DIR / "renewal_risk.yaml")

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
OPPORTUNITY_ID = "opp-1"
ACCOUNT_ID = "acc-1"
OWNER_ID = "usr-1"
OUTSIDE_ID = "opp-999"

# Targets of kinds the renewal-risk lane never writes, so the kind rules can be
# shown on a lane that does allow them.
EXTRA_TARGETS = (
    WritableTarget(
        system="sandbox",
        object="deal",
        operation=Operation.UPDATE,
        kind=ActionKind.DEAL_FIELD,
        fields=frozenset({"close_date"}),
    ),
    WritableTarget(
        system="sandbox",
        object="account",
        operation=Operation.UPDATE,
        kind=ActionKind.CREDIT_STATUS,
        fields=frozenset({"credit_status"}),
    ),
    WritableTarget(
        system="sandbox",
        object="email",
        operation=Operation.CREATE,
        kind=ActionKind.EXTERNAL_MESSAGE,
        fields=frozenset({"to", "subject", "body"}),
    ),
    WritableTarget(
        system="erp",
        object="vendor_bank_account",
        operation=Operation.CREATE,
        kind=ActionKind.FINANCIAL_MASTER_DATA,
        fields=frozenset({"vendor_id", "iban"}),
    ),
)
EXTENDED_POLICY = replace(
    POLICY, lane="renewal_risk_extended", targets=POLICY.targets + EXTRA_TARGETS
)


def source(name: str) -> SourceRef:
    return SourceRef(
        system="sandbox", object="opportunity", id=OPPORTUNITY_ID, field=name, fetched_at=NOW
    )


def context(**overrides: FieldValue | None) -> ContextBundle:
    """Build a bundle that fires no run-level trigger, with some fields replaced.

    A ``NullValue`` override is listed in ``missing`` as the context builder does,
    and a ``None`` override removes the field from the bundle.
    """
    values: dict[str, FieldValue | None] = {
        "owner_id": TextValue(value=OWNER_ID),
        "renewal_date": DateValue(value=TODAY + timedelta(days=45)),
        "contract_value": DecimalValue(value=Decimal("48000.00"), currency="USD"),
        "crm_erp_disagreements": RecordsValue(rows=[]),
    }
    values.update(overrides)
    fields = {
        name: ContextField(value=value, sources=[source(name)])
        for name, value in values.items()
        if value is not None
    }
    return ContextBundle(
        lane="renewal_risk",
        subject=RecordRef(system="sandbox", object="opportunity", id=OPPORTUNITY_ID),
        fields=fields,
        missing=sorted(name for name, value in values.items() if isinstance(value, NullValue)),
        fetched_at=NOW,
        records_in_scope=[
            RecordRef(system="sandbox", object="opportunity", id=OPPORTUNITY_ID),
            RecordRef(system="sandbox", object="account", id=ACCOUNT_ID),
            RecordRef(system="sandbox", object="user", id=OWNER_ID),
        ],
    )


def proposal(*actions: ProposedAction, confidence: float = 0.9) -> AgentProposal:
    return AgentProposal(
        summary="Renewal risk triage.",
        confidence=confidence,
        actions=list(actions),
        reasoner="test@1",
    )


def action(
    kind: ActionKind,
    target_object: str,
    operation: Operation,
    fields: dict[str, ScalarValue],
    *,
    record_id: str | None = None,
    system: str = "sandbox",
    action_id: str = "act",
) -> ProposedAction:
    return ProposedAction(
        action_id=action_id,
        kind=kind,
        operation=operation,
        target_system=system,
        target_object=target_object,
        target_record_id=record_id,
        fields=fields,
    )


def note(
    body: str = "Active users fell by 40 since June.", parent_id: str = OPPORTUNITY_ID
) -> ProposedAction:
    fields = {"parent_id": to_value(parent_id), "body": to_value(body)}
    return action(ActionKind.INTERNAL_NOTE, "note", Operation.CREATE, fields, action_id="note")


def task(
    owner_id: str | None = OWNER_ID,
    due: object = TODAY + timedelta(days=7),
    description: str = "Plan a call with the customer.",
) -> ProposedAction:
    fields = {
        "what_id": to_value(OPPORTUNITY_ID),
        "owner_id": to_value(owner_id),
        "subject": to_value("Review renewal risk"),
        "description": to_value(description),
        "due_date": to_value(due),
    }
    return action(ActionKind.FOLLOW_UP_TASK, "task", Operation.CREATE, fields, action_id="task")


def risk(value: str = "high", record_id: str | None = OPPORTUNITY_ID) -> ProposedAction:
    fields = {"renewal_risk": to_value(value)}
    return action(
        ActionKind.RISK_FIELD,
        "opportunity",
        Operation.UPDATE,
        fields,
        record_id=record_id,
        action_id="risk",
    )


@dataclass(frozen=True)
class Case:
    id: str
    action: ProposedAction
    verdict: Verdict
    rule_ids: list[str]
    confidence: float = 0.9
    context: ContextBundle = field(default_factory=context)
    policy: LanePolicy = POLICY
    marks: tuple[pytest.MarkDecorator, ...] = ()


CASES = [
    # Internal notes
    Case("note-allowed", note(), Verdict.ALLOW, ["default.allow"]),
    Case("note-empty", note(body=""), Verdict.BLOCK, ["policy.required_field_missing"]),
    Case("note-blank", note(body="   "), Verdict.BLOCK, ["policy.required_field_missing"]),
    Case("note-too-long", note(body="x" * 10_001), Verdict.BLOCK, ["default.note.invalid"]),
    Case(
        "note-parent-out-of-scope",
        note(parent_id=OUTSIDE_ID),
        Verdict.BLOCK,
        ["policy.record_out_of_scope"],
    ),
    # Follow-up tasks
    Case("task-allowed", task(), Verdict.ALLOW, ["default.allow"]),
    Case("task-due-today", task(due=TODAY), Verdict.ALLOW, ["default.allow"]),
    Case("task-due-day-30", task(due=TODAY + timedelta(days=30)), Verdict.ALLOW, ["default.allow"]),
    Case(
        "task-owner-out-of-scope",
        task(owner_id="usr-999"),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    Case(
        "task-no-owner",
        task(owner_id=None),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    Case(
        "task-due-day-31",
        task(due=TODAY + timedelta(days=31)),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    Case(
        "task-due-past",
        task(due=TODAY - timedelta(days=1)),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    Case(
        "task-due-as-text",
        task(due="2026-12-11"),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    Case(
        "task-due-as-datetime",
        task(due=NOW + timedelta(days=3)),
        Verdict.REVIEW,
        ["default.task.owner_or_due_invalid"],
    ),
    # The risk field
    Case("risk-allowed", risk("high"), Verdict.ALLOW, ["default.allow"]),
    Case("risk-critical", risk("critical"), Verdict.BLOCK, ["policy.value_not_allowed"]),
    Case(
        "risk-record-out-of-scope",
        risk(record_id=OUTSIDE_ID),
        Verdict.BLOCK,
        ["policy.record_out_of_scope"],
    ),
    Case(
        "risk-without-record-id",
        risk(record_id=None),
        Verdict.BLOCK,
        ["policy.record_out_of_scope"],
    ),
    # Targets and fields off the allow-list
    Case(
        "update-opportunity-stage",
        action(
            ActionKind.RISK_FIELD,
            "opportunity",
            Operation.UPDATE,
            {"renewal_risk": to_value("high"), "stage": to_value("Closed Lost")},
            record_id=OPPORTUNITY_ID,
        ),
        Verdict.BLOCK,
        ["policy.field_not_allowed"],
    ),
    Case(
        "create-vendor-bank-account",
        action(
            ActionKind.FINANCIAL_MASTER_DATA,
            "vendor_bank_account",
            Operation.CREATE,
            {"iban": to_value("DE89370400440532013000")},
        ),
        Verdict.BLOCK,
        ["policy.target_not_allowed"],
    ),
    Case(
        "update-account",
        action(
            ActionKind.RISK_FIELD,
            "account",
            Operation.UPDATE,
            {"renewal_risk": to_value("high")},
            record_id=ACCOUNT_ID,
        ),
        Verdict.BLOCK,
        ["policy.target_not_allowed"],
    ),
    Case(
        "kind-mismatch",
        action(
            ActionKind.RISK_FIELD,
            "note",
            Operation.CREATE,
            {"parent_id": to_value(OPPORTUNITY_ID), "body": to_value("Risk is high.")},
        ),
        Verdict.BLOCK,
        ["policy.kind_mismatch"],
    ),
    # Kind rules, on a lane whose allow-list has targets of these kinds
    Case(
        "financial-master-data",
        action(
            ActionKind.FINANCIAL_MASTER_DATA,
            "vendor_bank_account",
            Operation.CREATE,
            {"vendor_id": to_value("ven-1"), "iban": to_value("DE89370400440532013000")},
            system="erp",
        ),
        Verdict.BLOCK,
        ["default.financial_master_data.block"],
        policy=EXTENDED_POLICY,
    ),
    Case(
        "deal-field",
        action(
            ActionKind.DEAL_FIELD,
            "deal",
            Operation.UPDATE,
            {"close_date": to_value(TODAY + timedelta(days=20))},
            record_id=OPPORTUNITY_ID,
        ),
        Verdict.REVIEW,
        ["default.deal_field.review"],
        policy=EXTENDED_POLICY,
    ),
    Case(
        "credit-status",
        action(
            ActionKind.CREDIT_STATUS,
            "account",
            Operation.UPDATE,
            {"credit_status": to_value("watch")},
            record_id=ACCOUNT_ID,
        ),
        Verdict.REVIEW,
        ["default.credit_status.finance_review"],
        policy=EXTENDED_POLICY,
    ),
    Case(
        "external-message",
        action(
            ActionKind.EXTERNAL_MESSAGE,
            "email",
            Operation.CREATE,
            {
                "to": to_value("champion@example.org"),
                "subject": to_value("Checking in"),
                "body": to_value("Could we meet next week to review your rollout?"),
            },
        ),
        Verdict.REVIEW,
        ["default.external_message.draft_review"],
        policy=EXTENDED_POLICY,
    ),
    # Run-level review triggers, shown on an otherwise allowed note
    Case("low-confidence", note(), Verdict.REVIEW, ["trigger.low_confidence"], confidence=0.5),
    Case("confidence-at-minimum", note(), Verdict.ALLOW, ["default.allow"], confidence=0.6),
    Case(
        "owner-missing",
        note(),
        Verdict.REVIEW,
        ["trigger.missing_required_fields"],
        context=context(owner_id=NullValue()),
    ),
    Case(
        "renewal-date-absent",
        note(),
        Verdict.REVIEW,
        ["trigger.missing_required_fields"],
        context=context(renewal_date=None),
    ),
    Case(
        "high-value-at-threshold",
        note(),
        Verdict.REVIEW,
        ["trigger.high_value"],
        context=context(contract_value=DecimalValue(value=Decimal("100000"))),
    ),
    Case(
        "high-value-integer",
        note(),
        Verdict.REVIEW,
        ["trigger.high_value"],
        context=context(contract_value=IntegerValue(value=250_000)),
    ),
    Case(
        "value-below-threshold",
        note(),
        Verdict.ALLOW,
        ["default.allow"],
        context=context(contract_value=DecimalValue(value=Decimal("99999.99"))),
    ),
    Case(
        "sources-disagree",
        note(),
        Verdict.REVIEW,
        ["trigger.sources_disagree"],
        context=context(
            crm_erp_disagreements=RecordsValue(
                rows=[
                    {
                        "field": to_value("account_name"),
                        "crm": to_value("Acme"),
                        "erp": to_value("Acme GmbH"),
                    }
                ]
            )
        ),
    ),
    Case(
        "sensitive-terms",
        note(body="The customer has an overdue invoice."),
        Verdict.REVIEW,
        ["trigger.sensitive_terms"],
    ),
    Case(
        "sensitive-terms-plural",
        note(body="The customer disputes two invoices."),
        Verdict.REVIEW,
        ["trigger.sensitive_terms"],
    ),
    Case(
        "sensitive-currency-amount",
        note(body="They asked about a $5,000 concession."),
        Verdict.REVIEW,
        ["trigger.sensitive_terms"],
    ),
    # Several rules at once: the strictest verdict wins and every hit is listed
    Case(
        "block-beats-review",
        note(body="overdue invoice " * 700),
        Verdict.BLOCK,
        ["default.note.invalid", "trigger.sensitive_terms", "trigger.low_confidence"],
        confidence=0.5,
    ),
    Case(
        "master-data-block-beats-review",
        action(
            ActionKind.FINANCIAL_MASTER_DATA,
            "vendor_bank_account",
            Operation.CREATE,
            {"vendor_id": to_value("ven-1"), "iban": to_value("DE89370400440532013000")},
            system="erp",
        ),
        Verdict.BLOCK,
        ["default.financial_master_data.block", "trigger.high_value"],
        context=context(contract_value=DecimalValue(value=Decimal("180000"))),
        policy=EXTENDED_POLICY,
    ),
    Case(
        "review-beats-allow",
        task(owner_id=None, description="Ask about the contract terms."),
        Verdict.REVIEW,
        [
            "default.task.owner_or_due_invalid",
            "trigger.sensitive_terms",
            "trigger.low_confidence",
            "trigger.high_value",
        ],
        confidence=0.4,
        context=context(contract_value=DecimalValue(value=Decimal("150000"))),
    ),
]


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id, marks=case.marks) for case in CASES]
)
def test_evaluate_action(case: Case) -> None:
    decision = evaluate(
        proposal(case.action, confidence=case.confidence), case.context, case.policy, now=NOW
    )
    [action_decision] = decision.actions

    assert action_decision.action_id == case.action.action_id
    assert action_decision.verdict == case.verdict
    assert [hit.rule_id for hit in action_decision.hits] == case.rule_ids
    assert all(hit.reason for hit in action_decision.hits)


def test_evaluate_run_hits_in_order() -> None:
    bundle = context(
        owner_id=NullValue(),
        contract_value=DecimalValue(value=Decimal("120000")),
        crm_erp_disagreements=RecordsValue(rows=[{"field": to_value("customer_status")}]),
    )

    decision = evaluate(proposal(note(), confidence=0.3), bundle, POLICY, now=NOW)

    assert [hit.rule_id for hit in decision.run_hits] == [
        "trigger.low_confidence",
        "trigger.missing_required_fields",
        "trigger.high_value",
        "trigger.sources_disagree",
    ]
    assert all(hit.verdict == Verdict.REVIEW for hit in decision.run_hits)


def test_evaluate_run_hits_empty() -> None:
    decision = evaluate(proposal(note()), context(), POLICY, now=NOW)

    assert decision.run_hits == []


def test_evaluate_reasons_name_values() -> None:
    bundle = context(owner_id=NullValue(), contract_value=DecimalValue(value=Decimal("120000")))

    decision = evaluate(proposal(risk("critical"), confidence=0.45), bundle, POLICY, now=NOW)
    run_reasons = [hit.reason for hit in decision.run_hits]
    [risk_hit] = decision.actions[0].hits

    assert run_reasons[0] == "agent confidence 0.45 is below 0.60"
    assert run_reasons[1] == "required context fields are missing: owner_id"
    assert run_reasons[2] == "contract_value 120000 is at or above 100000"
    assert "'critical'" in risk_hit.reason
    assert "high, low, medium" in risk_hit.reason


def test_evaluate_out_of_scope_reason() -> None:
    decision = evaluate(proposal(note(parent_id=OUTSIDE_ID)), context(), POLICY, now=NOW)
    [hit] = decision.actions[0].hits

    assert OUTSIDE_ID in hit.reason


def test_evaluate_task_due_reason() -> None:
    late = TODAY + timedelta(days=31)
    latest = TODAY + timedelta(days=30)

    decision = evaluate(proposal(task(due=late)), context(), POLICY, now=NOW)
    [hit] = decision.actions[0].hits

    assert hit.reason == (
        "a task needs the record's owner and a due date between today and 30 days out"
    )
    assert latest < late


def test_evaluate_blocked_target_skips_run_hits() -> None:
    # A target-level block stops the action's own checks, but the run-level
    # triggers are still reported on the decision itself.
    decision = evaluate(proposal(risk("critical"), confidence=0.3), context(), POLICY, now=NOW)

    assert [hit.rule_id for hit in decision.actions[0].hits] == ["policy.value_not_allowed"]
    assert [hit.rule_id for hit in decision.run_hits] == ["trigger.low_confidence"]


def test_evaluate_actions_decided_separately() -> None:
    actions = (note(), task(owner_id=None), risk("critical"))

    decision = evaluate(proposal(*actions), context(), POLICY, now=NOW)

    assert decision.verdict_for("note") == Verdict.ALLOW
    assert decision.verdict_for("task") == Verdict.REVIEW
    assert decision.verdict_for("risk") == Verdict.BLOCK
    assert [item.action_id for item in decision.actions] == ["note", "task", "risk"]


def test_credit_status_finance_roles() -> None:
    credit = action(
        ActionKind.CREDIT_STATUS,
        "account",
        Operation.UPDATE,
        {"credit_status": to_value("watch")},
        record_id=ACCOUNT_ID,
    )

    decision = evaluate(proposal(credit), context(), EXTENDED_POLICY, now=NOW)

    assert decision.actions[0].reviewer_roles == ["finance"]


def test_task_default_reviewer_roles() -> None:
    decision = evaluate(proposal(task(owner_id=None)), context(), POLICY, now=NOW)

    assert decision.actions[0].reviewer_roles == ["revops", "sales_manager"]


def test_evaluate_records_time() -> None:
    decision = evaluate(proposal(note()), context(), POLICY, now=NOW)

    assert decision.evaluated_at == NOW


# policy_version


def test_policy_version_stable() -> None:
    first = evaluate(proposal(note()), context(), POLICY, now=NOW)
    second = evaluate(proposal(risk()), context(), POLICY, now=NOW + timedelta(hours=1))

    assert first.policy_version == second.policy_version
    assert first.policy_version == POLICY.version()


def test_policy_version_ignores_copy() -> None:
    assert replace(POLICY).version() == POLICY.version()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("fields: [parent_id, account_id, title, body]", "fields: [parent_id, account_id, body]"),
        ("renewal_risk: [low, medium, high]", "renewal_risk: [low, medium, high, none]"),
        ("high_value_threshold: 100000", "high_value_threshold: 50000"),
    ],
    ids=["fields", "allowed-values", "threshold"],
)
def test_policy_version_tracks_file(tmp_path: Path, old: str, new: str) -> None:
    for name in ("renewal_risk.yaml", "default.yaml"):
        (tmp_path / name).write_text((POLICY_DIR / name).read_text())
    lane_file = tmp_path / "renewal_risk.yaml"
    assert load_policy(lane_file).version() == POLICY.version()
    text = lane_file.read_text()
    assert old in text
    lane_file.write_text(text.replace(old, new))

    assert load_policy(lane_file).version() != POLICY.version()


def test_policy_version_format() -> None:
    assert POLICY.version().startswith("sha256:")
