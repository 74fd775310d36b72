"""Table-driven policy cases: a proposal and a context in, the expected decision out.

A cases file is YAML::

    now: 2026-12-04T12:00:00Z          # the evaluation time of every case
    defaults:                          # merged into each case's context
      subject: {system: sandbox, object: opportunity, id: opp_1}
      in_scope: [opp_1, acc_1, usr_1]
    cases:
      - name: a note is allowed
        context: {owner_id: usr_1, contract_value: 50000}
        proposal:
          confidence: 0.9
          actions:
            - {action_id: note, kind: internal_note, operation: create,
               target_object: note, fields: {parent_id: opp_1, body: Usage fell.}}
        expect:
          note: {verdict: allow}
          # rules: the rule ids that must fire, in order (optional)

Plain YAML values become typed values: dates stay dates, numbers with a
fraction become decimals, lists of mappings become record lists.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import (
    AgentProposal,
    ContextBundle,
    ContextField,
    ProposedAction,
    RecordRef,
    RecordsValue,
    SourceRef,
    Verdict,
    to_value,
)
from policies.engine import LanePolicy, evaluate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expectation(_Strict):
    verdict: Verdict
    rules: list[str] | None = None


class ActionCase(_Strict):
    action_id: str
    kind: str
    operation: str
    target_object: str
    target_system: str = "sandbox"
    target_record_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class ProposalCase(_Strict):
    confidence: float = 0.9
    summary: str = "case"
    risk_level: str | None = None
    classification: str | None = None
    actions: list[ActionCase] = Field(default_factory=list)


class Case(_Strict):
    name: str
    context: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    in_scope: list[str] | None = None
    proposal: ProposalCase
    expect: dict[str, Expectation]


class Defaults(_Strict):
    subject: dict[str, str] = Field(
        default_factory=lambda: {"system": "sandbox", "object": "record", "id": "rec_1"}
    )
    in_scope: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)


class CasesFile(_Strict):
    now: datetime
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    problems: list[str]


class CasesFileError(ValueError):
    """The cases file is unreadable or does not match the format."""


def load_cases(path: Path) -> CasesFile:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CasesFileError(f"{path}: cannot read: {err}") from err
    try:
        return CasesFile.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        ]
        raise CasesFileError("\n".join(problems)) from err


def run_cases(policy: LanePolicy, cases: CasesFile) -> list[CaseResult]:
    """Evaluate every case and compare the decision with its expectation."""
    now = cases.now if cases.now.tzinfo else cases.now.replace(tzinfo=UTC)
    results = []
    for case in cases.cases:
        try:
            context = _context(case, cases.defaults, now)
            proposal = _proposal(case.proposal)
        except (ValueError, TypeError) as err:
            results.append(CaseResult(case.name, False, [f"invalid case: {err}"]))
            continue
        decision = evaluate(proposal, context, policy, now=now)
        problems = []
        decided = {d.action_id: d for d in decision.actions}
        for action_id, expected in case.expect.items():
            got = decided.get(action_id)
            if got is None:
                problems.append(f"{action_id}: no such action in the proposal")
                continue
            if got.verdict != expected.verdict:
                fired = ", ".join(hit.rule_id for hit in got.hits)
                problems.append(
                    f"{action_id}: expected {expected.verdict.value}, got {got.verdict.value} "
                    f"({fired})"
                )
            fired_ids = [hit.rule_id for hit in got.hits]
            if expected.rules is not None and fired_ids != expected.rules:
                problems.append(f"{action_id}: expected rules {expected.rules}, got {fired_ids}")
        results.append(CaseResult(case.name, not problems, problems))
    return results


def _context(case: Case, defaults: Defaults, now: datetime) -> ContextBundle:
    subject = RecordRef(**defaults.subject)
    values = {**defaults.context, **case.context}
    fields = {}
    for name, raw in values.items():
        source = SourceRef(
            system=subject.system, object=subject.object, id=subject.id, field=name, fetched_at=now
        )
        fields[name] = ContextField(value=_typed(raw), sources=[source])
    scope = case.in_scope if case.in_scope is not None else defaults.in_scope
    return ContextBundle(
        lane="case",
        subject=subject,
        fields=fields,
        missing=case.missing or [n for n, v in values.items() if v is None],
        fetched_at=now,
        records_in_scope=[
            RecordRef(system=subject.system, object="record", id=record_id)
            for record_id in {subject.id, *scope}
        ],
    )


def _proposal(case: ProposalCase) -> AgentProposal:
    return AgentProposal(
        summary=case.summary,
        confidence=case.confidence,
        risk_level=case.risk_level,
        classification=case.classification,
        reasoner="policy-case",
        actions=[
            ProposedAction(
                action_id=a.action_id,
                kind=a.kind,
                operation=a.operation,
                target_system=a.target_system,
                target_object=a.target_object,
                target_record_id=a.target_record_id,
                fields={name: _scalar(value) for name, value in a.fields.items()},
            )
            for a in case.actions
        ],
    )


def _typed(raw: Any) -> Any:
    if isinstance(raw, list) and all(isinstance(row, dict) for row in raw):
        return RecordsValue(rows=[{k: _scalar(v) for k, v in row.items()} for row in raw])
    return _scalar(raw)


def _scalar(raw: Any) -> Any:
    if isinstance(raw, float):
        raw = Decimal(str(raw))
    if isinstance(raw, datetime) and raw.tzinfo is None:
        raw = raw.replace(tzinfo=UTC)
    if isinstance(raw, date | datetime | Decimal | int | bool | str) or raw is None:
        return to_value(raw)
    raise TypeError(f"unsupported value {raw!r}")
