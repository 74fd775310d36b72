"""Policy files: validation errors, shipped cases, and properties of any proposal."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    ActionKind,
    AgentProposal,
    ContextBundle,
    ContextField,
    Operation,
    ProposedAction,
    RecordRef,
    RolloutMode,
    SourceRef,
    TextValue,
    Verdict,
    to_value,
)
from handrail.policy_store import POLICY_DIR
from policies.engine import evaluate, load_policy
from policies.schema import PolicyFileError
from workflows.modes import WritePlan, plan_writes

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
RENEWAL = load_policy(POLICY_DIR / "renewal_risk.yaml")
INVOICE = load_policy(POLICY_DIR / "invoice_exception.yaml")


def handrail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    (tmp_path / "default.yaml").write_text((POLICY_DIR / "default.yaml").read_text())
    text = (POLICY_DIR / "renewal_risk.yaml").read_text()
    assert old in text
    path = tmp_path / "renewal_risk.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("operation: update", "operation: upsert", "renewal_risk.yaml:32: targets.2.operation"),
        ("kind: risk_field", "kind: risk_score", "renewal_risk.yaml:33: targets.2.kind"),
        ("lane: renewal_risk", "lane: renewal_risk\nsurprise: 1", "renewal_risk.yaml:3: surprise"),
        ("targets:", "targets: [", "invalid YAML"),
    ],
    ids=["bad-operation", "bad-kind", "unknown-key", "bad-yaml"],
)
def test_invalid_file_names_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = broken_copy(tmp_path, old, new)
    with pytest.raises(PolicyFileError, match=message.replace(".", r"\.")):
        load_policy(path)


def test_invalid_rule_condition_named(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text((POLICY_DIR / "default.yaml").read_text())
    lane = tmp_path / "lane.yaml"
    lane.write_text(
        "lane: lane\nextends: default.yaml\nrules:\n"
        "  - {id: lane.bad, when: 'secret_var > 1', verdict: review, reason: x}\n"
    )
    with pytest.raises(PolicyFileError, match=r"rule lane\.bad: unknown variable"):
        load_policy(lane)
    lane.write_text(
        "lane: lane\nextends: default.yaml\nrules:\n"
        "  - {id: lane.bad, when: 'action.kind ==', verdict: review, reason: x}\n"
    )
    with pytest.raises(PolicyFileError, match=r"rule lane\.bad: invalid condition"):
        load_policy(lane)


def test_policy_check_cli(tmp_path: Path) -> None:
    good = handrail("policy", "check", str(POLICY_DIR / "renewal_risk.yaml"))
    assert good.returncode == 0, good.stderr
    assert RENEWAL.version() in good.stdout
    bad = handrail(
        "policy", "check", str(broken_copy(tmp_path, "kind: risk_field", "kind: risk_score"))
    )
    assert bad.returncode == 2
    assert "renewal_risk.yaml:33: targets.2.kind" in bad.stderr


@pytest.mark.parametrize("lane", ["renewal_risk", "invoice_exception"])
def test_shipped_cases_pass(lane: str) -> None:
    result = handrail(
        "policy",
        "test",
        str(POLICY_DIR / f"{lane}.yaml"),
        str(POLICY_DIR / "cases" / f"{lane}.yaml"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def test_failing_case_reported(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "now: 2026-12-04T12:00:00Z\n"
        "defaults:\n"
        "  subject: {system: sandbox, object: opportunity, id: opp_1}\n"
        "  in_scope: [opp_1]\n"
        "cases:\n"
        "  - name: wrong expectation\n"
        "    proposal:\n"
        "      actions:\n"
        "        - {action_id: risk, kind: risk_field, operation: update,"
        " target_object: opportunity, target_record_id: opp_1, fields: {renewal_risk: critical}}\n"
        "    expect: {risk: {verdict: allow}}\n"
    )
    result = handrail("policy", "test", str(POLICY_DIR / "renewal_risk.yaml"), str(cases))
    assert result.returncode == 1
    assert "FAIL  wrong expectation" in result.stdout
    assert "expected allow, got block (policy.value_not_allowed)" in result.stdout


# Properties over any proposal the agent could produce.

OBJECTS = ["note", "task", "opportunity", "account", "vendor", "vendor_bill", "vendor_bank_change"]
FIELDS = [
    "parent_id",
    "body",
    "title",
    "what_id",
    "owner_id",
    "subject",
    "due_date",
    "renewal_risk",
    "stage",
    "amount",
    "remit_bank_account",
    "tax_id",
    "posted",
    "review_status",
    "total",
]
VALUES = st.one_of(
    st.sampled_from(["low", "medium", "high", "critical", "routed", "approved", "opp_1", "usr_1"]),
    st.text(max_size=20),
    st.integers(-5, 5),
    st.booleans(),
)
actions = st.builds(
    lambda index, kind, operation, target, record, fields: ProposedAction(
        action_id=f"a{index}",
        kind=kind,
        operation=operation,
        target_system="sandbox",
        target_object=target,
        target_record_id=record,
        fields={name: to_value(value) for name, value in fields.items()},
    ),
    st.integers(0, 1000),
    st.sampled_from(list(ActionKind)),
    st.sampled_from(list(Operation)),
    st.sampled_from(OBJECTS),
    st.sampled_from([None, "opp_1", "bill_1", "opp_2", "ven_1"]),
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
)


def bundle() -> ContextBundle:
    source = SourceRef(system="sandbox", object="record", id="opp_1", field="f", fetched_at=NOW)
    return ContextBundle(
        lane="property",
        subject=RecordRef(system="sandbox", object="opportunity", id="opp_1"),
        fields={"owner_id": ContextField(value=TextValue(value="usr_1"), sources=[source])},
        fetched_at=NOW,
        records_in_scope=[
            RecordRef(system="sandbox", object="opportunity", id=record)
            for record in ("opp_1", "bill_1", "usr_1")
        ],
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(actions, max_size=4, unique_by=lambda a: a.action_id), st.floats(0, 1))
def test_nothing_off_the_allow_list_is_writable(
    proposed: list[ProposedAction], confidence: float
) -> None:
    proposal = AgentProposal(
        summary="property", confidence=confidence, actions=proposed, reasoner="property"
    )
    for policy in (RENEWAL, INVOICE):
        decision = evaluate(proposal, bundle(), policy, now=NOW)
        for action, verdict in zip(proposed, decision.actions, strict=True):
            if verdict.verdict == Verdict.BLOCK:
                continue
            target = next(
                t
                for t in policy.targets
                if (t.object, t.operation) == (action.target_object, action.operation)
            )
            assert set(action.fields) <= target.fields
            for name, allowed in target.allowed_values.items():
                if name in action.fields:
                    assert str(getattr(action.fields[name], "value", None)) in allowed
            protected = {p.object for p in policy.protected if p.fields is None}
            assert action.target_object not in protected
            assert action.target_object not in {"vendor", "vendor_bank_change", "account"}


@given(
    st.sampled_from(list(RolloutMode)), st.lists(st.sampled_from([Verdict.ALLOW, Verdict.REVIEW]))
)
def test_shadow_mode_never_writes(mode: RolloutMode, verdicts: list[Verdict]) -> None:
    plan = plan_writes(mode, verdicts)
    if mode == RolloutMode.SHADOW:
        assert plan == WritePlan.SHADOW
    if mode in (RolloutMode.DRAFT, RolloutMode.ASSISTED):
        assert plan == WritePlan.REVIEW
    if plan == WritePlan.WRITE:
        assert mode == RolloutMode.AUTONOMOUS
        assert all(v == Verdict.ALLOW for v in verdicts)


def test_duplicate_rule_id_rejected(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text((POLICY_DIR / "default.yaml").read_text())
    lane = tmp_path / "lane.yaml"
    lane.write_text(
        "lane: lane\nextends: default.yaml\nrules:\n"
        "  - {id: trigger.high_value, when: 'true', verdict: review, reason: x}\n"
    )
    with pytest.raises(PolicyFileError, match=r"rule id trigger\.high_value is already used"):
        load_policy(lane)


def test_missing_base_names_lane_file(tmp_path: Path) -> None:
    lane = tmp_path / "lane.yaml"
    lane.write_text("lane: lane\nextends: nowhere.yaml\n")
    with pytest.raises(PolicyFileError, match=r"lane\.yaml: extends nowhere\.yaml: .*cannot read"):
        load_policy(lane)
