"""Deterministic policy evaluation of proposed actions: allow, review or block.

Every rule that fires is recorded with its id and reason, in evaluation order,
and ``block`` beats ``review`` beats ``allow``. The allow-list of writable
targets is checked first and cannot be overridden by any other rule.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from contracts import (
    ActionDecision,
    ActionKind,
    AgentProposal,
    ContextBundle,
    Operation,
    PolicyDecision,
    ProposedAction,
    RuleHit,
    Verdict,
)
from contracts.values import NullValue, RecordsValue, TextValue, from_value


@dataclass(frozen=True)
class WritableTarget:
    """One object a lane may write, with its field allow-list.

    ``allowed_values`` restricts a field to listed values; a field missing from
    it may take any value of the right type.
    """

    system: str
    object: str
    operation: Operation
    kind: ActionKind
    fields: frozenset[str]
    required: frozenset[str] = frozenset()
    # Fields that link the new or changed record to another record; each must
    # point at a record in the run's context.
    references: frozenset[str] = frozenset()
    allowed_values: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FlagTrigger:
    """A review trigger on a context field: it fires when the field is true or a non-empty list.

    ``reviewer_roles``, when set, replaces the roles that may approve the run's
    actions, so a finance flag makes every action a finance decision.
    """

    rule_id: str
    field: str
    reason: str
    reviewer_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protected:
    """Fields no action may change, whatever the agent proposes or a reviewer edits.

    ``fields`` None protects every field of the object.
    """

    object: str
    rule_id: str
    reason: str
    fields: frozenset[str] | None = None


@dataclass(frozen=True)
class LanePolicy:
    """A lane's writable targets and the thresholds that send its actions to a reviewer."""

    lane: str
    targets: tuple[WritableTarget, ...]
    required_context: frozenset[str] = frozenset()
    min_confidence: float = 0.6
    high_value_field: str | None = None
    high_value_threshold: Decimal = Decimal("100000")
    disagreement_field: str | None = None
    max_task_due_days: int = 30
    default_reviewer_roles: tuple[str, ...] = ("revops",)
    finance_roles: tuple[str, ...] = ("finance",)
    flag_triggers: tuple[FlagTrigger, ...] = ()
    protected: tuple[Protected, ...] = ()
    # Lanes whose whole subject is money (accounts payable) rely on their flag
    # triggers instead of sending every text that mentions an invoice to review.
    review_sensitive_terms: bool = True

    def version(self) -> str:
        """Return the content hash of this policy together with the default rules."""
        description = {
            "defaults": DEFAULT_RULES_VERSION,
            "lane": self.lane,
            "targets": [
                {
                    "system": t.system,
                    "object": t.object,
                    "operation": t.operation.value,
                    "kind": t.kind.value,
                    "fields": sorted(t.fields),
                    "required": sorted(t.required),
                    "references": sorted(t.references),
                    "allowed_values": {k: sorted(v) for k, v in sorted(t.allowed_values.items())},
                }
                for t in self.targets
            ],
            "required_context": sorted(self.required_context),
            "min_confidence": self.min_confidence,
            "high_value": [self.high_value_field, str(self.high_value_threshold)],
            "disagreement_field": self.disagreement_field,
            "max_task_due_days": self.max_task_due_days,
            "roles": [list(self.default_reviewer_roles), list(self.finance_roles)],
            "protected": [
                [p.object, p.rule_id, p.reason, sorted(p.fields or [])] for p in self.protected
            ],
            "review_sensitive_terms": self.review_sensitive_terms,
            "flag_triggers": [
                [f.rule_id, f.field, f.reason, list(f.reviewer_roles)] for f in self.flag_triggers
            ],
        }
        canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Terms that put money, credit, tax, contract or legal matters into generated
# text. A person reads such text before it lands in the system of record.
SENSITIVE_TERMS = re.compile(
    r"\b(payments?|invoices?|overdue|credits?|refunds?|discounts?|pric(e|es|ing)|tax(es)?|"
    r"contracts?|legal|lawsuits?|litigation|terminat\w*|penalt\w*|banks?|iban|wires?)\b"
    r"|[$€£]\s?\d",
    re.IGNORECASE,
)

# Bumped by hand whenever a default rule below changes meaning, so the
# policy_version of every lane changes with it.
DEFAULT_RULES_VERSION = "defaults-2026-12-04.1"

KIND_RULES: dict[ActionKind, tuple[Verdict, str, str]] = {
    ActionKind.FINANCIAL_MASTER_DATA: (
        Verdict.BLOCK,
        "default.financial_master_data.block",
        "vendor, bank, tax and payment data are never changed by an agent",
    ),
    ActionKind.DEAL_FIELD: (
        Verdict.REVIEW,
        "default.deal_field.review",
        "amount, close date, stage and forecast changes need a reviewer",
    ),
    ActionKind.CREDIT_STATUS: (
        Verdict.REVIEW,
        "default.credit_status.finance_review",
        "customer credit status changes need a finance reviewer",
    ),
    ActionKind.EXTERNAL_MESSAGE: (
        Verdict.REVIEW,
        "default.external_message.draft_review",
        "external customer communication is a draft until a reviewer approves it",
    ),
}


def evaluate(
    proposal: AgentProposal,
    context: ContextBundle,
    policy: LanePolicy,
    *,
    now: datetime,
) -> PolicyDecision:
    """Decide every proposed action against the lane's policy and the default rules."""
    run_hits = _review_triggers(proposal, context, policy)
    run_roles, roles_rule = _trigger_roles(context, policy)
    decisions = [
        _decide_action(action, context, policy, run_hits, (run_roles, roles_rule), now)
        for action in proposal.actions
    ]
    return PolicyDecision(
        policy_version=policy.version(),
        evaluated_at=now,
        actions=decisions,
        run_hits=run_hits,
    )


def _review_triggers(
    proposal: AgentProposal, context: ContextBundle, policy: LanePolicy
) -> list[RuleHit]:
    hits: list[RuleHit] = []
    if proposal.confidence < policy.min_confidence:
        hits.append(
            _review(
                "trigger.low_confidence",
                f"agent confidence {proposal.confidence:.2f} is below {policy.min_confidence:.2f}",
            )
        )
    missing = sorted(name for name in policy.required_context if _is_missing(context, name))
    if missing:
        hits.append(
            _review(
                "trigger.missing_required_fields",
                f"required context fields are missing: {', '.join(missing)}",
            )
        )
    if policy.high_value_field:
        amount = _scalar(context, policy.high_value_field)
        if isinstance(amount, Decimal | int) and amount >= policy.high_value_threshold:
            hits.append(
                _review(
                    "trigger.high_value",
                    f"{policy.high_value_field} {amount} is at or above "
                    f"{policy.high_value_threshold}",
                )
            )
    if policy.disagreement_field:
        entry = context.fields.get(policy.disagreement_field)
        rows = getattr(entry.value, "rows", []) if entry else []
        if rows:
            hits.append(
                _review(
                    "trigger.sources_disagree",
                    f"the systems of record disagree on {len(rows)} value(s)",
                )
            )
    for trigger in policy.flag_triggers:
        if _flag_set(context, trigger.field):
            hits.append(_review(trigger.rule_id, trigger.reason))
    return hits


def _trigger_roles(context: ContextBundle, policy: LanePolicy) -> tuple[list[str], str]:
    """Return the reviewer roles the first fired flag trigger demands, with its rule id."""
    for trigger in policy.flag_triggers:
        if trigger.reviewer_roles and _flag_set(context, trigger.field):
            return list(trigger.reviewer_roles), trigger.rule_id
    return [], ""


def _flag_set(context: ContextBundle, name: str) -> bool:
    entry = context.fields.get(name)
    if entry is None:
        return False
    if isinstance(entry.value, RecordsValue):
        return bool(entry.value.rows)
    return from_value(entry.value) is True


def _decide_action(
    action: ProposedAction,
    context: ContextBundle,
    policy: LanePolicy,
    run_hits: list[RuleHit],
    run_roles: tuple[list[str], str],
    now: datetime,
) -> ActionDecision:
    hits = _check_target(action, context, policy)
    roles = list(policy.default_reviewer_roles)
    roles_rule = ""
    if not any(hit.verdict == Verdict.BLOCK for hit in hits):
        kind_checks: dict[ActionKind, Callable[[], list[RuleHit]]] = {
            ActionKind.INTERNAL_NOTE: lambda: _check_note(action),
            ActionKind.FOLLOW_UP_TASK: lambda: _check_task(action, context, policy, now),
        }
        hits += kind_checks.get(action.kind, lambda: [])()
        if action.kind in KIND_RULES:
            verdict, rule_id, reason = KIND_RULES[action.kind]
            hits.append(RuleHit(rule_id=rule_id, verdict=verdict, reason=reason))
        if action.kind == ActionKind.CREDIT_STATUS:
            roles, roles_rule = list(policy.finance_roles), KIND_RULES[action.kind][1]
        if run_roles[0]:
            roles, roles_rule = run_roles
        if policy.review_sensitive_terms:
            hits += _check_text(action)
        hits += run_hits
    if not hits:
        hits.append(
            RuleHit(
                rule_id="default.allow",
                verdict=Verdict.ALLOW,
                reason="target, fields and values are on the lane's allow-list",
            )
        )
    verdict = max((hit.verdict for hit in hits), key=lambda v: v.severity)
    return ActionDecision(
        action_id=action.action_id,
        verdict=verdict,
        hits=hits,
        reviewer_roles=roles,
        roles_rule=roles_rule,
    )


def _check_target(
    action: ProposedAction, context: ContextBundle, policy: LanePolicy
) -> list[RuleHit]:
    protected_hits = [
        _block(rule.rule_id, rule.reason)
        for rule in policy.protected
        if rule.object == action.target_object
        and (rule.fields is None or rule.fields & set(action.fields))
    ]
    target = next(
        (
            t
            for t in policy.targets
            if (t.system, t.object, t.operation)
            == (action.target_system, action.target_object, action.operation)
        ),
        None,
    )
    if target is None:
        not_allowed = _block(
            "policy.target_not_allowed",
            f"{action.operation.value} on {action.target_system}.{action.target_object} "
            f"is not a writable target of lane {policy.lane}",
        )
        return [*protected_hits, not_allowed]
    hits: list[RuleHit] = list(protected_hits)
    if action.kind != target.kind:
        hits.append(
            _block(
                "policy.kind_mismatch",
                f"{action.target_object} writes are {target.kind.value}, not {action.kind.value}",
            )
        )
    unknown = sorted(set(action.fields) - target.fields)
    if unknown:
        hits.append(
            _block(
                "policy.field_not_allowed", f"fields not on the allow-list: {', '.join(unknown)}"
            )
        )
    missing = sorted(name for name in target.required if _empty(action.fields.get(name)))
    if missing:
        hits.append(
            _block("policy.required_field_missing", f"missing fields: {', '.join(missing)}")
        )
    for name, allowed in target.allowed_values.items():
        if name in action.fields:
            raw = from_value(action.fields[name])
            if str(raw) not in allowed:
                hits.append(
                    _block(
                        "policy.value_not_allowed",
                        f"{name}={raw!r} is not one of {', '.join(sorted(allowed))}",
                    )
                )
    hits += _check_scope(action, target, context)
    return hits


def _check_scope(
    action: ProposedAction, target: WritableTarget, context: ContextBundle
) -> list[RuleHit]:
    """Block writes to, or links with, records that are not part of this run's context."""
    in_scope = {ref.id for ref in context.records_in_scope}
    referenced = [action.target_record_id] if action.target_record_id else []
    if action.operation == Operation.UPDATE and not action.target_record_id:
        referenced.append("(no record id)")
    referenced += [
        str(from_value(value))
        for name, value in action.fields.items()
        if name in target.references and isinstance(value, TextValue)
    ]
    outside = sorted({record_id for record_id in referenced if record_id not in in_scope})
    if outside:
        return [
            _block(
                "policy.record_out_of_scope",
                f"records outside this run's context: {', '.join(outside)}",
            )
        ]
    return []


def _check_note(action: ProposedAction) -> list[RuleHit]:
    body = from_value(action.fields.get("body", NullValue()))
    if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
        return [_block("default.note.invalid", "a note needs a body of 1 to 10,000 characters")]
    return []


def _check_task(
    action: ProposedAction, context: ContextBundle, policy: LanePolicy, now: datetime
) -> list[RuleHit]:
    owner = from_value(action.fields.get("owner_id", NullValue()))
    due = from_value(action.fields.get("due_date", NullValue()))
    problems = []
    if not owner:
        problems.append("the task has no owner")
    elif owner not in {ref.id for ref in context.records_in_scope}:
        # A reviewer may hand the task to someone else; the agent may not.
        problems.append(f"the task owner {owner} is not the record's owner")
    if not isinstance(due, date) or isinstance(due, datetime):
        problems.append("the due date is not a date")
    else:
        latest = now.date() + timedelta(days=policy.max_task_due_days)
        if not now.date() <= due <= latest:
            problems.append(f"the due date {due} is not between today and {latest}")
    if problems:
        return [_review("default.task.owner_or_due_invalid", "; ".join(problems))]
    return []


def _check_text(action: ProposedAction) -> list[RuleHit]:
    for name, value in action.fields.items():
        if isinstance(value, TextValue) and SENSITIVE_TERMS.search(value.value):
            return [
                _review(
                    "trigger.sensitive_terms",
                    f"{name} mentions money, credit, tax, contract or legal terms",
                )
            ]
    return []


def _scalar(context: ContextBundle, name: str) -> object:
    entry = context.fields.get(name)
    if entry is None or entry.value.type == "records":
        return None
    return from_value(entry.value)


def _is_missing(context: ContextBundle, name: str) -> bool:
    return (
        name in context.missing
        or name not in context.fields
        or (isinstance(context.fields[name].value, NullValue))
    )


def _empty(value: object) -> bool:
    return (
        value is None
        or isinstance(value, NullValue)
        or (isinstance(value, TextValue) and not value.value.strip())
    )


def _review(rule_id: str, reason: str) -> RuleHit:
    return RuleHit(rule_id=rule_id, verdict=Verdict.REVIEW, reason=reason)


def _block(rule_id: str, reason: str) -> RuleHit:
    return RuleHit(rule_id=rule_id, verdict=Verdict.BLOCK, reason=reason)
