"""Validation of a model's output against the lane's writable targets and the run's context.

The server's schema enforcement is never trusted: every output is parsed and
checked here, whatever the server claims to enforce.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from adapters.llm.model_checks import quoted, text_problems
from adapters.llm.model_output import (
    MAX_ERRORS,
    InvalidOutput,
    ModelOutput,
    OutputAction,
    OutputField,
    schema_errors,
)
from contracts import ContextBundle, Evidence, Operation, ProposedAction
from contracts.values import (
    BooleanValue,
    DateValue,
    DecimalValue,
    IntegerValue,
    ScalarValue,
    TextValue,
)
from policies.engine import LanePolicy, WritableTarget

INTEGER = re.compile(r"[+-]?\d+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CheckedOutput:
    output: ModelOutput
    evidence: list[Evidence]
    actions: list[ProposedAction]


def check_output(
    raw: str | None,
    *,
    context: ContextBundle,
    policy: LanePolicy,
    allowed_link_domains: Sequence[str],
) -> CheckedOutput:
    """Parse and validate the model's JSON output for one run.

    Raises:
        InvalidOutput: the output is not valid JSON, does not match the schema,
            writes outside the lane's targets or the run's records, or contains a
            disallowed link, e-mail address or phone number.
    """
    if raw is None or not raw.strip():
        raise InvalidOutput(["the output is empty; return one JSON object"])
    try:
        output = ModelOutput.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidOutput(schema_errors(err)) from None

    errors: list[str] = []
    actions = checked_actions(output.actions, context, policy, errors)
    evidence = _evidence(output, context, errors)
    errors += text_problems(
        _generated_texts(output), context=context, allowed_link_domains=allowed_link_domains
    )
    if errors:
        raise InvalidOutput(errors[:MAX_ERRORS])
    return CheckedOutput(output=output, evidence=evidence, actions=actions)


def _evidence(output: ModelOutput, context: ContextBundle, errors: list[str]) -> list[Evidence]:
    known = set(context.fields) | set(context.missing)
    evidence = []
    for index, item in enumerate(output.evidence):
        # Allow a path into a field, such as ``recent_tickets[0].body``.
        base = re.split(r"[.\[]", item.field, maxsplit=1)[0]
        if base not in known:
            errors.append(
                f"evidence[{index}].field: {quoted(item.field)} is not a field of the context"
            )
            continue
        evidence.append(Evidence(field=item.field, observation=item.observation))
    return evidence


def _generated_texts(output: ModelOutput) -> Iterable[tuple[str, str]]:
    yield "summary", output.summary
    for name in ("classification", "recommendation"):
        value = getattr(output, name)
        if value:
            yield name, value
    for index, evidence in enumerate(output.evidence):
        yield f"evidence[{index}].observation", evidence.observation
    for index, action in enumerate(output.actions):
        yield f"actions[{index}].rationale", action.rationale
        for field in action.fields:
            if field.type == "text":
                yield f"actions[{index}].fields.{field.name}", field.value


def checked_actions(
    proposed: Sequence[OutputAction],
    context: ContextBundle,
    policy: LanePolicy,
    errors: list[str],
) -> list[ProposedAction]:
    """Convert the proposed actions, appending a message to ``errors`` for each problem."""
    actions: list[ProposedAction] = []
    seen_ids: set[str] = set()
    for index, action in enumerate(proposed):
        where = f"actions[{index}]"
        if action.action_id in seen_ids:
            errors.append(f"{where}.action_id: {action.action_id!r} is used twice")
        seen_ids.add(action.action_id)
        target = _target(action, context, policy, where, errors)
        if target is None:
            continue
        fields = _fields(action, target, where, errors)
        _check_scope(action, target, fields, context, where, errors)
        try:
            actions.append(
                ProposedAction(
                    action_id=action.action_id,
                    kind=action.kind,
                    operation=action.operation,
                    # The model never chooses the system: every write goes to the
                    # system of record the run's subject lives in.
                    target_system=context.subject.system,
                    target_object=action.target_object,
                    target_record_id=action.target_record_id,
                    fields=fields,
                    rationale=action.rationale,
                )
            )
        except ValidationError as err:
            errors += [f"{where}.{message}" for message in schema_errors(err)]
    return actions


def _target(
    action: OutputAction,
    context: ContextBundle,
    policy: LanePolicy,
    where: str,
    errors: list[str],
) -> WritableTarget | None:
    system = context.subject.system
    for target in policy.targets:
        if (target.system, target.object, target.operation) == (
            system,
            action.target_object,
            action.operation,
        ):
            if action.kind != target.kind:
                errors.append(
                    f"{where}.kind: {action.target_object} writes are {target.kind.value}, "
                    f"not {action.kind.value}"
                )
            return target
    writable = ", ".join(
        f"{target.operation.value} {target.object}"
        for target in policy.targets
        if target.system == system
    )
    errors.append(
        f"{where}: {action.operation.value} {quoted(action.target_object)} is not a writable "
        f"target of lane {policy.lane}; writable targets: {writable or 'none'}"
    )
    return None


def _fields(
    action: OutputAction, target: WritableTarget, where: str, errors: list[str]
) -> dict[str, ScalarValue]:
    fields: dict[str, ScalarValue] = {}
    for position, item in enumerate(action.fields):
        location = f"{where}.fields[{position}]"
        if item.name not in target.fields:
            errors.append(
                f"{location}: field {quoted(item.name)} is not writable on {target.object}; "
                f"allowed fields: {', '.join(sorted(target.fields))}"
            )
            continue
        if item.name in fields:
            errors.append(f"{location}: field {item.name} is given twice")
            continue
        try:
            fields[item.name] = typed_value(item)
        except ValueError as err:
            errors.append(f"{location} ({item.name}): {err}")
            continue
        allowed = target.allowed_values.get(item.name)
        if allowed is not None and item.value not in allowed:
            errors.append(
                f"{location}: {item.name}={quoted(item.value)} is not one of "
                f"{', '.join(sorted(allowed))}"
            )
    missing = sorted(name for name in target.required if name not in fields)
    if missing:
        errors.append(f"{where}: required fields are missing: {', '.join(missing)}")
    return fields


def typed_value(item: OutputField) -> ScalarValue:
    """Convert one ``{name, type, value}`` item to its typed value.

    Raises:
        ValueError: the string is not a valid value of the stated type.
    """
    text = item.value.strip()
    if item.type == "text":
        return TextValue(value=item.value)
    if item.type == "decimal":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{quoted(item.value)} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{quoted(item.value)} is not a finite decimal number")
        return DecimalValue(value=number)
    if item.type == "integer":
        if not INTEGER.fullmatch(text):
            raise ValueError(f"{quoted(item.value)} is not an integer")
        return IntegerValue(value=int(text))
    if item.type == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{quoted(item.value)} is not true or false")
        return BooleanValue(value=text == "true")
    if not ISO_DATE.fullmatch(text):
        raise ValueError(f"{quoted(item.value)} is not a date written as YYYY-MM-DD")
    try:
        return DateValue(value=date.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{quoted(item.value)} is not a calendar date") from None


def _check_scope(
    action: OutputAction,
    target: WritableTarget,
    fields: dict[str, ScalarValue],
    context: ContextBundle,
    where: str,
    errors: list[str],
) -> None:
    """Reject a write to, or a link with, a record that is not part of the run's context."""
    in_scope = {ref.id for ref in context.records_in_scope}
    record_id = action.target_record_id
    if action.operation == Operation.CREATE and record_id is not None:
        errors.append(f"{where}.target_record_id: must be null when creating a record")
    if action.operation == Operation.UPDATE:
        updatable = {
            ref.id
            for ref in context.records_in_scope
            if (ref.system, ref.object) == (context.subject.system, target.object)
        }
        if record_id is None:
            errors.append(f"{where}.target_record_id: an update needs the id of the record")
        elif record_id not in updatable:
            errors.append(
                f"{where}.target_record_id: {quoted(record_id)} is not among the "
                f"{target.object} records in this run's context; "
                f"allowed: {', '.join(sorted(updatable)) or 'none'}"
            )
    for name in sorted(target.references & set(fields)):
        value = fields[name]
        if not isinstance(value, TextValue) or value.value not in in_scope:
            given = quoted(value.value) if isinstance(value, TextValue) else "a non-text value"
            errors.append(
                f"{where}: {name} {given} is not a record in this run's context; "
                f"allowed: {', '.join(sorted(in_scope))}"
            )
