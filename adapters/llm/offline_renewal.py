"""The offline renewal-risk reasoner: documented, deterministic rules and no network.

Risk points, summed from the context bundle:

- an open severity-1 ticket: 3; severity 2: 2; three or more open tickets: 1
- active users down 30 % or more over the last months: 3; down 10 %: 2; down 5 %: 1
- at least one overdue unpaid invoice: 2; an invoice on credit hold: 2
- ERP customer status blocked or inactive: 1
- two or more deals lost on the account in the last year: 1
- last recorded meeting over 90 days ago: 1; last activity over 120 days ago: 1
- open expansion pipeline (other open deals on the account): minus 1

5 points or more is high risk, 2 to 4 medium, otherwise low. Confidence starts at
0.9 and drops for missing usage data (0.2), systems that disagree (0.15), no
meeting notes (0.1), a missing owner (0.1) and instruction-like text in notes or
tickets (0.1). It stays between 0.3 and 0.95.

Actions: the risk field when it changes. Medium and high risk also get an
internal note with the evidence and a follow-up task for the owner, due in 3
(high) or 7 (medium) days. A renewal already closed gets no action. Text from
notes and tickets is never copied into an action and never changes the rules.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from contracts import (
    ActionKind,
    AgentProposal,
    ContextBundle,
    EventEnvelope,
    Evidence,
    Operation,
    ProposedAction,
    RiskLevel,
    to_value,
)
from contracts.values import RecordsValue, TextValue, from_value

CLOSED_STAGES = {"Closed Won", "Closed Lost"}
# Phrases that address an assistant rather than describe the customer.
INSTRUCTION_LIKE = re.compile(
    r"ignore (all |any )?(previous|prior|above)|disregard|you are now|system prompt|"
    r"as an ai|mark (this|the) (account|opportunity)|set (the )?risk|send (an )?email",
    re.IGNORECASE,
)


class OfflineRenewalReasoner:
    name = "offline-renewal-risk"
    version = "1"

    def propose(self, event: EventEnvelope, context: ContextBundle, now: datetime) -> AgentProposal:
        facts = _Facts(context)
        reasoner_id = f"{self.name}@{self.version}"
        untrusted = facts.untrusted_fields()
        stage = facts.scalar("opportunity_stage")
        if stage in CLOSED_STAGES:
            return AgentProposal(
                summary=f"The renewal is already {stage}; nothing to triage.",
                confidence=0.95,
                evidence=[Evidence(field="opportunity_stage", observation=f"stage is {stage}")],
                reasoner=reasoner_id,
                untrusted_inputs=untrusted,
            )

        points, evidence = _score(facts, now.date())
        level = RiskLevel.LOW
        if points >= 5:
            level = RiskLevel.HIGH
        elif points >= 2:
            level = RiskLevel.MEDIUM
        confidence, caveats = _confidence(facts)
        evidence += caveats
        account = facts.scalar("account_name") or "this account"
        summary = (
            f"{account}: {level.value} renewal risk ({points} risk points)"
            + (f"; {evidence[0].observation}" if evidence else "")
            + "."
        )
        return AgentProposal(
            summary=summary,
            risk_level=level,
            confidence=confidence,
            evidence=evidence,
            actions=_actions(facts, context, level, evidence, now.date()),
            reasoner=reasoner_id,
            untrusted_inputs=untrusted,
        )


class _Facts:
    def __init__(self, context: ContextBundle) -> None:
        self.context = context

    def scalar(self, name: str) -> object:
        entry = self.context.fields.get(name)
        if entry is None or isinstance(entry.value, RecordsValue):
            return None
        return from_value(entry.value)

    def rows(self, name: str) -> list[dict[str, object]]:
        entry = self.context.fields.get(name)
        if entry is None or not isinstance(entry.value, RecordsValue):
            return []
        return [{k: from_value(v) for k, v in row.items()} for row in entry.value.rows]

    def untrusted_fields(self) -> list[str]:
        names = []
        for name, entry in self.context.fields.items():
            if isinstance(entry.value, TextValue) and entry.value.untrusted:
                names.append(name)
            if isinstance(entry.value, RecordsValue) and any(
                isinstance(v, TextValue) and v.untrusted
                for row in entry.value.rows
                for v in row.values()
            ):
                names.append(name)
        return sorted(names)


def _score(facts: _Facts, today: date) -> tuple[int, list[Evidence]]:
    points = 0
    evidence: list[Evidence] = []

    def add(value: int, field: str, observation: str) -> None:
        nonlocal points
        points += value
        evidence.append(Evidence(field=field, observation=observation))

    severity = facts.scalar("worst_open_severity")
    if severity == 1:
        add(3, "worst_open_severity", "an open severity-1 support ticket")
    elif severity == 2:
        add(2, "worst_open_severity", "an open severity-2 support ticket")
    open_tickets = facts.scalar("open_ticket_count")
    if isinstance(open_tickets, int) and open_tickets >= 3:
        add(1, "open_ticket_count", f"{open_tickets} open support tickets")
    trend = facts.scalar("usage_trend_pct")
    if isinstance(trend, Decimal):
        for limit, value in ((Decimal(-30), 3), (Decimal(-10), 2), (Decimal(-5), 1)):
            if trend <= limit:
                add(value, "usage_trend_pct", f"active users changed {trend}% in recent months")
                break
    overdue = facts.scalar("overdue_invoice_count")
    if isinstance(overdue, int) and overdue > 0:
        add(2, "overdue_invoice_count", f"{overdue} overdue unpaid invoice(s)")
    if facts.scalar("credit_hold") is True:
        add(2, "credit_hold", "an invoice is on credit hold")
    if facts.scalar("erp_customer_status") in ("blocked", "inactive"):
        add(1, "erp_customer_status", f"ERP customer is {facts.scalar('erp_customer_status')}")
    lost = facts.scalar("lost_deals_last_year")
    if isinstance(lost, int) and lost >= 2:
        add(1, "lost_deals_last_year", f"{lost} deals lost on the account in the last year")
    last_meeting = facts.scalar("last_meeting_date")
    # No meeting on record is a gap in the data, not evidence of risk: it lowers
    # confidence instead.
    if isinstance(last_meeting, date) and (today - last_meeting).days > 90:
        add(1, "last_meeting_date", "no meeting with the customer in the last 90 days")
    last_activity = facts.scalar("last_activity_date")
    if isinstance(last_activity, date) and (today - last_activity).days > 120:
        add(1, "last_activity_date", f"no CRM activity since {last_activity}")
    pipeline = facts.rows("open_opportunities")
    if pipeline:
        add(-1, "open_opportunities", f"{len(pipeline)} open expansion opportunities")
    return max(points, 0), evidence


def _confidence(facts: _Facts) -> tuple[float, list[Evidence]]:
    confidence = 0.9
    caveats: list[Evidence] = []
    if facts.scalar("usage_trend_pct") is None:
        confidence -= 0.2
        caveats.append(
            Evidence(field="usage_trend_pct", observation="no usage data to judge adoption")
        )
    if facts.rows("crm_erp_disagreements"):
        confidence -= 0.15
        caveats.append(Evidence(field="crm_erp_disagreements", observation="CRM and ERP disagree"))
    if not facts.rows("recent_meeting_notes"):
        confidence -= 0.1
    if facts.scalar("owner_id") is None:
        confidence -= 0.1
        caveats.append(Evidence(field="owner_id", observation="the renewal has no active owner"))
    for field in ("recent_meeting_notes", "recent_tickets"):
        if any(INSTRUCTION_LIKE.search(str(row.get("body", ""))) for row in facts.rows(field)):
            confidence -= 0.1
            caveats.append(
                Evidence(
                    field=field,
                    observation="instructions addressed to an assistant were found and "
                    "ignored; record text is data",
                )
            )
            break
    return round(min(0.95, max(0.3, confidence)), 2), caveats


def _actions(
    facts: _Facts, context: ContextBundle, level: RiskLevel, evidence: list[Evidence], today: date
) -> list[ProposedAction]:
    subject = context.subject
    account_id = facts.scalar("account_id")
    actions: list[ProposedAction] = []
    if level != RiskLevel.LOW:
        lines = "\n".join(f"- {item.observation}" for item in evidence)
        note_fields = {
            "parent_id": to_value(subject.id),
            "title": to_value(f"Renewal risk: {level.value}"),
            "body": to_value(f"Renewal risk assessed as {level.value}.\nEvidence:\n{lines}"),
        }
        if isinstance(account_id, str):
            note_fields["account_id"] = to_value(account_id)
        actions.append(
            ProposedAction(
                action_id="note",
                kind=ActionKind.INTERNAL_NOTE,
                operation=Operation.CREATE,
                target_system=subject.system,
                target_object="note",
                fields=note_fields,
                rationale="record the evidence behind the risk level on the renewal",
            )
        )
        due = today + timedelta(days=3 if level == RiskLevel.HIGH else 7)
        task_fields = {
            "what_id": to_value(subject.id),
            "owner_id": to_value(facts.scalar("owner_id")),
            "subject": to_value(
                f"Review {level.value} renewal risk: {facts.scalar('account_name')}"
            ),
            "description": to_value(
                "Check the evidence in the renewal-risk note and plan next steps."
            ),
            "due_date": to_value(due),
        }
        if isinstance(account_id, str):
            task_fields["account_id"] = to_value(account_id)
        actions.append(
            ProposedAction(
                action_id="task",
                kind=ActionKind.FOLLOW_UP_TASK,
                operation=Operation.CREATE,
                target_system=subject.system,
                target_object="task",
                fields=task_fields,
                rationale="the owner should act before the renewal date",
            )
        )
    if facts.scalar("current_risk") != level.value:
        actions.append(
            ProposedAction(
                action_id="risk",
                kind=ActionKind.RISK_FIELD,
                operation=Operation.UPDATE,
                target_system=subject.system,
                target_object=subject.object,
                target_record_id=subject.id,
                fields={"renewal_risk": to_value(level.value)},
                rationale=f"set the approved risk field to {level.value}",
            )
        )
    return actions
