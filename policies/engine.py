"""Deterministic policy evaluation of proposed actions: allow, review or block.

A lane's policy file (YAML, see ``policies/schema.py``) lists what the lane may
write and the rules that decide each proposed action. Rule conditions are CEL
expressions. Built-in checks run first and cannot be overridden: protected
fields, the target allow-list, required fields, allowed values and the records
in the run's context. Then every rule is evaluated in file order (the base
policy's rules first) and every rule that fires is recorded with its reason.
``block`` beats ``review`` beats ``allow``.
"""

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import cel

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
from contracts.values import NullValue, RecordsValue, ScalarValue, TextValue, from_value
from policies.schema import (
    PolicyFile,
    PolicyFileError,
    RuleSpec,
    content_hash,
    parse_policy_text,
)

logger = logging.getLogger(__name__)

# Names a rule condition may use; anything else is rejected when the file loads.
VARIABLES = frozenset(
    {"action", "proposal", "context", "params", "required_missing", "in_scope", "today", "now"}
)
INTERPOLATION = re.compile(r"\$\{([^}]+)\}")


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
class Protected:
    """Fields no action may change; ``fields`` None protects every field of the object."""

    object: str
    rule_id: str
    reason: str
    fields: frozenset[str] | None = None


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    condition: Any
    reason_parts: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class LanePolicy:
    """A loaded lane policy: the lane file merged over its base, with compiled rules."""

    lane: str
    content_version: str
    reviewer_roles: tuple[str, ...]
    params: Mapping[str, Any]
    required_context: frozenset[str]
    targets: tuple[WritableTarget, ...]
    protected: tuple[Protected, ...]
    rules: tuple[CompiledRule, ...]
    source: str = ""
    # File name -> text of the lane file and every base file, for snapshots.
    files: Mapping[str, str] = field(default_factory=dict)

    def version(self) -> str:
        """Return the content hash of the lane file and its base file."""
        return self.content_version


def load_policy(path: Path) -> LanePolicy:
    """Load a lane policy file and the base file it extends, compiling every rule.

    Raises:
        PolicyFileError: the file or its base is invalid; the message names file and line.
    """

    def read(name: str) -> str:
        try:
            return (path.parent / name).read_text()
        except OSError as err:
            raise PolicyFileError(f"{path.parent / name}: cannot read: {err.strerror}") from err

    return load_policy_texts(path.name, read, folder=str(path.parent))


def load_policy_texts(name: str, read: Callable[[str], str], *, folder: str = ".") -> LanePolicy:
    """Load a lane policy by file name, reading each file's text through ``read``.

    Raises:
        PolicyFileError: a file is invalid; the message names file and line.
    """
    path = Path(folder) / name
    lane_text = read(name)
    lane_file = parse_policy_text(lane_text, str(path))
    # Base files first, so their rules run first and the lane's params win.
    chain: list[tuple[PolicyFile, Path, str]] = [(lane_file, path, lane_text)]
    texts_by_name = {name: lane_text}
    current = lane_file
    while current.extends:
        if current.extends in texts_by_name:
            raise PolicyFileError(f"{path}: extends forms a cycle through {current.extends}")
        base_path = Path(folder) / current.extends
        try:
            text = read(current.extends)
        except PolicyFileError as err:
            raise PolicyFileError(f"{path}: extends {current.extends}: {err}") from err
        texts_by_name[current.extends] = text
        current = parse_policy_text(text, str(base_path))
        chain.insert(0, (current, base_path, text))
    files = [policy_file for policy_file, _, _ in chain]
    texts = [text for _, _, text in chain]

    params: dict[str, Any] = {}
    rules: list[CompiledRule] = []
    seen_ids: dict[str, Path] = {}
    for policy_file, file_path, _ in chain:
        params.update(policy_file.params)
        for rule in policy_file.rules:
            if rule.id in seen_ids:
                raise PolicyFileError(
                    f"{file_path}: rule id {rule.id} is already used in {seen_ids[rule.id]}; "
                    "rule ids must be unique"
                )
            seen_ids[rule.id] = file_path
            rules.append(_compile(rule, file_path))
    return LanePolicy(
        lane=lane_file.lane,
        content_version=content_hash(*texts),
        reviewer_roles=tuple(lane_file.reviewer_roles or files[0].reviewer_roles),
        params=params,
        required_context=frozenset(lane_file.required_context),
        targets=tuple(_target(t) for t in lane_file.targets),
        protected=tuple(
            Protected(
                object=p.object,
                rule_id=p.id,
                reason=p.reason,
                fields=frozenset(p.fields) if p.fields is not None else None,
            )
            for f in files
            for p in f.protected
        ),
        rules=tuple(rules),
        source=str(path),
        files=texts_by_name,
    )


def _compile(rule: RuleSpec, path: Path) -> CompiledRule:
    try:
        condition = cel.compile(rule.when)
    except ValueError as err:
        raise PolicyFileError(f"{path}: rule {rule.id}: invalid condition: {err}") from err
    unknown = sorted(set(condition.variables()) - VARIABLES)
    if unknown:
        raise PolicyFileError(
            f"{path}: rule {rule.id}: unknown variable(s) {', '.join(unknown)}; "
            f"conditions may use {', '.join(sorted(VARIABLES))}"
        )
    parts: list[tuple[str, Any]] = []
    last = 0
    for match in INTERPOLATION.finditer(rule.reason):
        try:
            program = cel.compile(match.group(1))
        except ValueError as err:
            raise PolicyFileError(f"{path}: rule {rule.id}: invalid reason: {err}") from err
        parts.append((rule.reason[last : match.start()], program))
        last = match.end()
    parts.append((rule.reason[last:], None))
    return CompiledRule(spec=rule, condition=condition, reason_parts=tuple(parts))


def _target(spec: Any) -> WritableTarget:
    return WritableTarget(
        system=spec.system,
        object=spec.object,
        operation=spec.operation,
        kind=spec.kind,
        fields=frozenset(spec.fields),
        required=frozenset(spec.required),
        references=frozenset(spec.references),
        allowed_values={k: frozenset(v) for k, v in spec.allowed_values.items()},
    )


def evaluate(
    proposal: AgentProposal,
    context: ContextBundle,
    policy: LanePolicy,
    *,
    now: datetime,
) -> PolicyDecision:
    """Decide every proposed action against the lane's policy."""
    base = _activation(proposal, context, policy, now)
    run_hits, run_roles = _run_rules(policy, base)
    decisions = [
        _decide_action(action, context, policy, base, run_hits, run_roles)
        for action in proposal.actions
    ]
    return PolicyDecision(
        policy_version=policy.version(),
        evaluated_at=now,
        actions=decisions,
        run_hits=run_hits,
    )


def _run_rules(
    policy: LanePolicy, base: dict[str, Any]
) -> tuple[list[RuleHit], tuple[list[str], str]]:
    hits: list[RuleHit] = []
    roles: tuple[list[str], str] = ([], "")
    for rule in policy.rules:
        if rule.spec.scope != "run":
            continue
        hit = _fire(rule, base)
        if hit is not None:
            hits.append(hit)
            if rule.spec.roles and not roles[0]:
                roles = (list(rule.spec.roles), rule.spec.id)
    return hits, roles


def _decide_action(
    action: ProposedAction,
    context: ContextBundle,
    policy: LanePolicy,
    base: dict[str, Any],
    run_hits: list[RuleHit],
    run_roles: tuple[list[str], str],
) -> ActionDecision:
    hits = _check_target(action, context, policy)
    roles, roles_rule = list(policy.reviewer_roles), ""
    if not any(hit.verdict == Verdict.BLOCK for hit in hits):
        activation = {**base, "action": _action_map(action)}
        for rule in policy.rules:
            if rule.spec.scope != "action":
                continue
            hit = _fire(rule, activation)
            if hit is not None:
                hits.append(hit)
                if rule.spec.roles and not roles_rule:
                    roles, roles_rule = list(rule.spec.roles), rule.spec.id
        hits += run_hits
        if run_roles[0]:
            roles, roles_rule = run_roles
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


def _fire(rule: CompiledRule, activation: dict[str, Any]) -> RuleHit | None:
    """Evaluate one rule; a condition that fails to evaluate sends the action to review."""
    try:
        fired = rule.condition.execute(activation)
    except (RuntimeError, ValueError, KeyError, TypeError, ZeroDivisionError) as err:
        logger.warning("policy rule %s could not be evaluated: %s", rule.spec.id, err)
        return RuleHit(
            rule_id="policy.rule_error",
            verdict=Verdict.REVIEW,
            reason=f"rule {rule.spec.id} could not be evaluated ({type(err).__name__}), "
            "so a person decides",
        )
    if fired is not True:
        return None
    return RuleHit(
        rule_id=rule.spec.id, verdict=rule.spec.verdict, reason=_reason(rule, activation)
    )


def _reason(rule: CompiledRule, activation: dict[str, Any]) -> str:
    parts = []
    for literal, program in rule.reason_parts:
        parts.append(literal)
        if program is not None:
            try:
                parts.append(_show(program.execute(activation)))
            except (RuntimeError, ValueError, KeyError, TypeError):
                parts.append("?")
    return "".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    return str(value)


def _activation(
    proposal: AgentProposal, context: ContextBundle, policy: LanePolicy, now: datetime
) -> dict[str, Any]:
    """Build the CEL variables: plain values, dates as midnight-UTC timestamps, money as double."""
    values: dict[str, Any] = {}
    for name, entry in context.fields.items():
        if isinstance(entry.value, RecordsValue):
            values[name] = [{k: _plain(v) for k, v in row.items()} for row in entry.value.rows]
        else:
            values[name] = _plain(entry.value)
    required_missing = sorted(
        name
        for name in policy.required_context
        if name in context.missing or values.get(name) is None
    )
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    return {
        "proposal": {
            "confidence": proposal.confidence,
            "risk_level": proposal.risk_level.value if proposal.risk_level else "",
            "classification": proposal.classification or "",
            "recommendation": proposal.recommendation or "",
            "summary": proposal.summary,
        },
        "context": values,
        "params": dict(policy.params),
        "required_missing": required_missing,
        "in_scope": [ref.id for ref in context.records_in_scope],
        "today": today,
        "now": now,
    }


def _action_map(action: ProposedAction) -> dict[str, Any]:
    texts = [v.value for v in action.fields.values() if isinstance(v, TextValue)]
    return {
        "action_id": action.action_id,
        "kind": action.kind.value,
        "operation": action.operation.value,
        "target_system": action.target_system,
        "target_object": action.target_object,
        "target_record_id": action.target_record_id,
        "fields": {name: _plain(value) for name, value in action.fields.items()},
        "field_types": {name: value.type for name, value in action.fields.items()},
        "text": "\n".join(texts),
    }


def _plain(value: ScalarValue | Any) -> Any:
    raw = from_value(value)
    if isinstance(raw, Decimal):
        return float(raw)
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):
        return datetime.combine(raw, time(0), tzinfo=UTC)
    return raw


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


def _empty(value: object) -> bool:
    return (
        value is None
        or isinstance(value, NullValue)
        or (isinstance(value, TextValue) and not value.value.strip())
    )


def _block(rule_id: str, reason: str) -> RuleHit:
    return RuleHit(rule_id=rule_id, verdict=Verdict.BLOCK, reason=reason)
