"""Unit tests of the contracts: strict validation, review rules, typed values and
round trips through Temporal's pydantic payload converter."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from contracts import (
    ActionKind,
    BooleanValue,
    ContextBundle,
    ContextField,
    DateTimeValue,
    DateValue,
    DecimalValue,
    EventEnvelope,
    IntegerValue,
    NullValue,
    Operation,
    ProposedAction,
    RecordRef,
    RecordsValue,
    ReviewDecision,
    ReviewOutcome,
    ScanInput,
    SourceRef,
    TextValue,
    from_value,
    to_value,
)

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
NAIVE_NOW = datetime(2026, 12, 4, 9, 30)


def envelope(**overrides: Any) -> EventEnvelope:
    values: dict[str, Any] = {
        "event_id": "evt-1",
        "event_type": "renewal.window_started",
        "source_system": "sandbox",
        "source_record_type": "opportunity",
        "source_record_id": "opp-1",
        "occurred_at": NOW,
        "received_at": NOW,
        "workflow": "renewal_risk",
        "idempotency_key": "opp-1:2027-01-31",
    }
    values.update(overrides)
    return EventEnvelope(**values)


def note_action(action_id: str = "note", **overrides: Any) -> ProposedAction:
    values: dict[str, Any] = {
        "action_id": action_id,
        "kind": ActionKind.INTERNAL_NOTE,
        "operation": Operation.CREATE,
        "target_system": "sandbox",
        "target_object": "note",
        "fields": {"parent_id": to_value("opp-1"), "body": to_value("Renewal looks at risk.")},
    }
    values.update(overrides)
    return ProposedAction(**values)


def review_decision(**overrides: Any) -> ReviewDecision:
    values: dict[str, Any] = {
        "outcome": ReviewOutcome.APPROVE,
        "proposal_version": 1,
        "action_ids": ["note"],
        "reviewer_id": "usr-7",
        "reviewer_role": "revops",
        "decided_at": NOW,
    }
    values.update(overrides)
    return ReviewDecision(**values)


def source(record_id: str, field: str) -> SourceRef:
    return SourceRef(
        system="sandbox", object="opportunity", id=record_id, field=field, fetched_at=NOW
    )


def bundle_with_rows() -> ContextBundle:
    """A bundle whose open_opportunities row contains one value of every scalar type."""
    row = {
        "id": TextValue(value="opp-2"),
        "stage": TextValue(value="Proposal"),
        "amount": DecimalValue(value=Decimal("48250.75"), currency="USD"),
        "close_date": DateValue(value=date(2027, 2, 28)),
        "seats": IntegerValue(value=40),
        "strategic": BooleanValue(value=True),
        "updated_at": DateTimeValue(value=NOW),
        "next_step": NullValue(),
        "last_note": TextValue(value="Customer asked for a demo.", untrusted=True),
    }
    return ContextBundle(
        lane="renewal_risk",
        subject=RecordRef(system="sandbox", object="opportunity", id="opp-1"),
        fields={
            "renewal_date": ContextField(
                value=DateValue(value=date(2027, 1, 31)),
                sources=[source("opp-1", "renewal_date")],
            ),
            "open_opportunities": ContextField(
                value=RecordsValue(rows=[row]), sources=[source("opp-2", "stage")]
            ),
        },
        fetched_at=NOW,
        records_in_scope=[RecordRef(system="sandbox", object="opportunity", id="opp-1")],
    )


def round_trip(value: Any, type_: type) -> Any:
    """Encode ``value`` the way Temporal stores it in history, then decode it as ``type_``."""
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([value])
    [decoded] = converter.from_payloads(payloads, [type_])
    return decoded


# Strictness


def test_value_rejects_extra_field() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        TextValue(value="hello", colour="red")  # type: ignore[call-arg]


def test_envelope_rejects_extra_field() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        envelope(tenant="acme")


def test_bundle_rejects_extra_field_in_source() -> None:
    raw = bundle_with_rows().model_dump(mode="json")
    raw["fields"]["renewal_date"]["sources"][0]["confidence"] = 1
    with pytest.raises(ValidationError, match="extra_forbidden"):
        ContextBundle.model_validate(raw)


def test_envelope_rejects_naive_occurred_at() -> None:
    with pytest.raises(ValidationError, match="timezone_aware"):
        envelope(occurred_at=NAIVE_NOW)


def test_datetime_value_rejects_naive() -> None:
    with pytest.raises(ValidationError, match="timezone_aware"):
        DateTimeValue(value=NAIVE_NOW)


def test_review_rejects_naive_decided_at() -> None:
    with pytest.raises(ValidationError, match="timezone_aware"):
        review_decision(decided_at=NAIVE_NOW)


def test_action_rejects_unknown_kind() -> None:
    with pytest.raises(ValidationError, match="kind"):
        note_action(kind="send_wire_transfer")


def test_action_accepts_kind_as_string() -> None:
    action = note_action(kind="internal_note")

    assert action.kind is ActionKind.INTERNAL_NOTE


def test_action_rejects_unknown_operation() -> None:
    with pytest.raises(ValidationError, match="operation"):
        note_action(operation="delete")


def test_action_rejects_records_value_field() -> None:
    with pytest.raises(ValidationError, match="records"):
        note_action(fields={"body": RecordsValue(rows=[])})


def test_action_rejects_invalid_action_id() -> None:
    with pytest.raises(ValidationError, match="action_id"):
        note_action(action_id="Note 1")


def test_action_assignment_is_validated() -> None:
    action = note_action()

    with pytest.raises(ValidationError, match="kind"):
        action.kind = "not_a_kind"  # type: ignore[assignment]


def test_context_field_needs_source() -> None:
    with pytest.raises(ValidationError, match="sources"):
        ContextField(value=NullValue(), sources=[])


# EventEnvelope


@pytest.mark.parametrize(
    "key",
    [
        "opp-1",
        "opp-1:2027-01-31",
        "hubspot/deal/42@v3",
        "A.b_c",
        "k" * 200,
    ],
    ids=["plain", "colon", "slash-at", "dot-underscore", "max-length"],
)
def test_envelope_accepts_key(key: str) -> None:
    assert envelope(idempotency_key=key).idempotency_key == key


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("-opp-1", id="leading-dash"),
        pytest.param(".opp-1", id="leading-dot"),
        pytest.param("opp 1", id="space"),
        pytest.param("opp#1", id="hash"),
        pytest.param("k" * 201, id="too-long"),
        pytest.param("opp-1\n", id="trailing-newline"),
    ],
)
def test_envelope_rejects_key(key: str) -> None:
    with pytest.raises(ValidationError, match="idempotency_key"):
        envelope(idempotency_key=key)


def test_envelope_workflow_id() -> None:
    event = envelope(workflow="renewal_risk", idempotency_key="opp-1:2027-01-31")

    assert event.workflow_id == "renewal_risk:opp-1:2027-01-31"


def test_envelope_workflow_id_ignores_delivery() -> None:
    first = envelope(event_id="evt-1", received_at=NOW)
    second = envelope(event_id="evt-2", received_at=NOW + timedelta(minutes=5))

    assert first.workflow_id == second.workflow_id


def test_envelope_rejects_event_type_without_dot() -> None:
    with pytest.raises(ValidationError, match="event_type"):
        envelope(event_type="renewal")


# ReviewDecision


def test_review_edit_accepts_listed_action() -> None:
    decision = review_decision(outcome=ReviewOutcome.EDIT, edited_actions=[note_action()])

    assert decision.edited_actions[0].action_id == "note"


def test_review_edit_needs_edited_actions() -> None:
    with pytest.raises(ValidationError, match="an edit decision needs edited_actions"):
        review_decision(outcome=ReviewOutcome.EDIT)


@pytest.mark.parametrize("outcome", [ReviewOutcome.APPROVE, ReviewOutcome.REJECT])
def test_review_rejects_edits_without_edit(outcome: ReviewOutcome) -> None:
    with pytest.raises(ValidationError, match="only allowed with outcome=edit"):
        review_decision(outcome=outcome, edited_actions=[note_action()])


def test_review_edit_must_list_action() -> None:
    with pytest.raises(ValidationError, match="must be listed in action_ids"):
        review_decision(outcome=ReviewOutcome.EDIT, edited_actions=[note_action("task")])


def test_review_may_cover_no_actions() -> None:
    # A run handed to a person has no pending actions; the run itself checks
    # that only a reject can close it.
    decision = review_decision(outcome=ReviewOutcome.REJECT, action_ids=[])

    assert decision.action_ids == []


def test_review_needs_positive_version() -> None:
    with pytest.raises(ValidationError, match="proposal_version"):
        review_decision(proposal_version=0)


# Round trips through Temporal's pydantic converter


def test_round_trip_date_value() -> None:
    decoded = round_trip(DateValue(value=date(2027, 1, 31)), DateValue)

    assert type(decoded.value) is date
    assert decoded.value == date(2027, 1, 31)


def test_round_trip_plain_date_field() -> None:
    decoded = round_trip(ScanInput(lane="renewal_risk", as_of=date(2026, 12, 4)), ScanInput)

    assert type(decoded.as_of) is date
    assert decoded.as_of == date(2026, 12, 4)


def test_round_trip_decimal_value() -> None:
    decoded = round_trip(DecimalValue(value=Decimal("120000.50"), currency="EUR"), DecimalValue)

    assert type(decoded.value) is Decimal
    assert decoded.value == Decimal("120000.50")
    assert decoded.currency == "EUR"


def test_round_trip_decimal_keeps_exponent() -> None:
    decoded = round_trip(DecimalValue(value=Decimal("0.10")), DecimalValue)

    assert str(decoded.value) == "0.10"


def test_round_trip_datetime_keeps_offset() -> None:
    plus_one = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 4, 10, 30, tzinfo=plus_one)

    decoded = round_trip(DateTimeValue(value=moment), DateTimeValue)

    assert decoded.value == moment
    assert decoded.value.utcoffset() == timedelta(hours=1)


def test_round_trip_bundle_equal() -> None:
    bundle = bundle_with_rows()

    assert round_trip(bundle, ContextBundle) == bundle


def test_round_trip_bundle_row_types() -> None:
    decoded = round_trip(bundle_with_rows(), ContextBundle)
    [row] = decoded.fields["open_opportunities"].value.rows

    assert type(row["close_date"].value) is date
    assert type(row["amount"].value) is Decimal
    assert row["amount"].value == Decimal("48250.75")
    assert type(row["seats"].value) is int
    assert row["strategic"].value is True
    assert isinstance(row["updated_at"].value, datetime)
    assert isinstance(row["next_step"], NullValue)
    assert row["last_note"].untrusted is True


def test_round_trip_bundle_field_type() -> None:
    decoded = round_trip(bundle_with_rows(), ContextBundle)
    renewal_date = decoded.fields["renewal_date"].value

    assert isinstance(renewal_date, DateValue)
    assert type(renewal_date.value) is date


# to_value and from_value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, NullValue()),
        (True, BooleanValue(value=True)),
        (False, BooleanValue(value=False)),
        (0, IntegerValue(value=0)),
        (42, IntegerValue(value=42)),
        (0.1, DecimalValue(value=Decimal("0.1"))),
        (Decimal("99.95"), DecimalValue(value=Decimal("99.95"))),
        (date(2027, 1, 31), DateValue(value=date(2027, 1, 31))),
        (NOW, DateTimeValue(value=NOW)),
        ("hello", TextValue(value="hello")),
    ],
    ids=["none", "true", "false", "zero", "int", "float", "decimal", "date", "datetime", "text"],
)
def test_to_value_wraps(raw: object, expected: object) -> None:
    assert to_value(raw) == expected


def test_to_value_bool_is_not_integer() -> None:
    assert isinstance(to_value(True), BooleanValue)


def test_to_value_float_is_exact_decimal() -> None:
    value = to_value(0.1)

    assert isinstance(value, DecimalValue)
    assert value.value == Decimal("0.1")


def test_to_value_datetime_is_not_date() -> None:
    assert isinstance(to_value(NOW), DateTimeValue)


def test_to_value_marks_untrusted_text() -> None:
    value = to_value("call me", untrusted=True)

    assert isinstance(value, TextValue)
    assert value.untrusted is True


def test_to_value_rejects_naive_datetime() -> None:
    with pytest.raises(TypeError, match="naive datetime"):
        to_value(NAIVE_NOW)


@pytest.mark.parametrize("raw", [[1, 2], {"a": 1}, b"bytes"], ids=["list", "dict", "bytes"])
def test_to_value_rejects_type(raw: object) -> None:
    with pytest.raises(TypeError, match="unsupported field type"):
        to_value(raw)


@pytest.mark.parametrize(
    "raw",
    [None, True, 7, Decimal("1.50"), date(2027, 1, 31), NOW, "text"],
    ids=["none", "bool", "int", "decimal", "date", "datetime", "text"],
)
def test_from_value_inverts_to_value(raw: object) -> None:
    result = from_value(to_value(raw))

    assert result == raw
    assert type(result) is type(raw)
