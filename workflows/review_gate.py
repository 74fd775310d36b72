"""The review gate of a lane run: the decide Update, its validator, SLA and pause waits."""

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from activities.lane_state import LaneStateActivities
    from contracts import (
        EscalationInput,
        LaneGateInput,
        ProposedAction,
        ResumeSignal,
        ReviewDecision,
        ReviewOutcome,
        ReviewReceipt,
        RunStatus,
        StatusReason,
    )
    from workflows.lane_audit import AuditTrail
    from workflows.retries import READ_RETRY


class ReviewGate(AuditTrail):
    """The review gate: waits for a reviewer's decision, checks who may decide, and stops
    runs of paused lanes until they resume."""

    _decision: ReviewDecision | None
    _decision_lock: asyncio.Lock
    _resume_requested: bool

    @workflow.signal
    def resume(self, signal: ResumeSignal) -> None:
        """Wake a run held by a paused lane; it checks the lane again before going on."""
        self._resume_requested = True

    @workflow.update
    async def decide(self, decision: ReviewDecision) -> ReviewReceipt:
        """Record a reviewer's decision; the run continues once the update completes."""
        async with self._decision_lock:
            # Claim before any await: two approvals that both passed the
            # validator must not both be recorded.
            if self._decision is not None:
                raise ApplicationError(
                    f"run already decided by {self._decision.reviewer_id}", type="AlreadyDecided"
                )
            self._decision = decision
            self._state.decisions.append(decision)
        return ReviewReceipt(
            accepted=True,
            proposal_version=decision.proposal_version,
            message=f"{decision.outcome.value} recorded",
        )

    @decide.validator
    def validate_decide(self, decision: ReviewDecision) -> None:
        state = self._state

        if state.status != RunStatus.NEEDS_REVIEW or self._decision is not None:
            raise ValueError(f"run is not awaiting review (status {state.status.value})")

        if decision.proposal_version != state.proposal_version:
            raise ValueError(
                f"stale proposal version {decision.proposal_version}; "
                f"the current version is {state.proposal_version}"
            )

        if not state.pending_action_ids and decision.outcome != ReviewOutcome.REJECT:
            raise ValueError(
                f"run has no actions to approve ({state.reason.value}); handle the record "
                "yourself and close the run with a reject"
            )

        if state.pending_action_ids and not decision.action_ids:
            raise ValueError("a decision must name the pending actions it covers")

        unknown = sorted(set(decision.action_ids) - set(state.pending_action_ids))
        if unknown:
            raise ValueError(f"action ids not awaiting review: {', '.join(unknown)}")

        if decision.outcome == ReviewOutcome.REJECT and set(decision.action_ids) != set(
            state.pending_action_ids
        ):
            raise ValueError("a rejection must cover every pending action")

        for field in self.spec.conflicted_reviewer_fields:
            conflicted = self._context_text(field)
            if conflicted and conflicted.lower() == decision.reviewer_id.lower():
                raise ValueError(
                    f"segregation of duties: {decision.reviewer_id} is the {field} of this "
                    "record and may not review it"
                )

        for action_id in decision.action_ids:
            roles, rule = self._reviewer_roles(action_id)
            if decision.reviewer_role not in roles:
                because = f" (rule {rule})" if rule else ""
                raise ValueError(
                    f"action {action_id} needs a reviewer with role {' or '.join(roles)}"
                    f"{because}; {decision.reviewer_id} has role {decision.reviewer_role}"
                )
        originals = {action.action_id: action for action in self._pending_actions()}

        for edited in decision.edited_actions:
            if _target_of(edited) != _target_of(originals[edited.action_id]):
                raise ValueError(
                    f"an edit may change the fields of action {edited.action_id}, not its target"
                )

    def _reviewer_roles(self, action_id: str) -> tuple[list[str], str]:
        if self._state.policy is not None:
            for action_decision in self._state.policy.actions:
                if action_decision.action_id == action_id and action_decision.reviewer_roles:
                    return action_decision.reviewer_roles, action_decision.roles_rule
        return list(self._input.settings.reviewer_roles), ""

    def _context_text(self, field: str) -> str | None:
        context = self._state.context
        entry = context.fields.get(field) if context else None
        value = getattr(entry.value, "value", None) if entry else None
        return value if isinstance(value, str) else None

    def _pending_actions(self) -> list[ProposedAction]:
        if self._state.proposal is None:
            return []
        pending = set(self._state.pending_action_ids)
        return [a for a in self._state.proposal.actions if a.action_id in pending]

    async def _shadow_review(self, actions: Sequence[ProposedAction]) -> None:
        """Let a reviewer record what they would have decided; nothing is written either way."""

        if not await self._await_review(actions, StatusReason.SHADOW_MODE):
            return
        decision = self._decision
        assert decision is not None
        agreed = decision.outcome == ReviewOutcome.APPROVE and set(decision.action_ids) == {
            a.action_id for a in actions
        }
        self._state.pending_action_ids = []
        self._record(
            "shadow_review",
            decision.reviewer_id,
            decision,
            {},
            {"outcome": decision.outcome.value, "agreed": str(agreed).lower()},
        )

    async def _wait_while_paused(self, status: RunStatus) -> None:
        """Hold the run while its lane is paused, checking again on resume or every 5 minutes."""

        if not workflow.patched("lane-pause-gate"):
            return
        held = False
        while True:
            gate = await workflow.execute_activity_method(
                LaneStateActivities.lane_gate,
                LaneGateInput(lane=self.spec.name),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=READ_RETRY,
            )
            if not gate.paused:
                if held:
                    self._record("resumed", "system", None)
                return
            if not held:
                held = True
                self._set_status(status, StatusReason.PAUSED)
                self._record("paused", gate.paused_by or "system", None)
                await self._flush_audit()
            self._resume_requested = False
            await self._wait_for(lambda: self._resume_requested, timedelta(minutes=5), "paused")

    async def _await_review(
        self,
        actions: Sequence[ProposedAction],
        reason: StatusReason = StatusReason.AWAITING_REVIEWER,
    ) -> bool:
        """Wait for a decision; escalate once, then give up at the SLA. True if decided."""
        settings = self._input.settings
        self._state.pending_action_ids = [a.action_id for a in actions]
        waiting_since = workflow.now()
        deadline = waiting_since + settings.review_sla
        self._state.review_deadline = deadline
        self._set_status(RunStatus.NEEDS_REVIEW, reason)
        await self._flush_audit()

        escalate_after = min(settings.escalate_after, settings.review_sla)

        if await self._wait_for_decision(escalate_after, "review-escalation"):
            return True
        remaining = settings.review_sla - escalate_after

        if remaining > timedelta(0):
            self._state.escalated = True
            self._set_status(RunStatus.NEEDS_REVIEW, StatusReason.REVIEW_ESCALATED)
            self._record("escalation", "system", None, {}, {"deadline": deadline.isoformat()})
            await self._flush_audit()
            await workflow.execute_activity_method(
                AuditActivities.notify_escalation,
                EscalationInput(
                    workflow_id=self._state.workflow_id,
                    lane=self.spec.name,
                    owner_email=self._input.event.owner_email,
                    waiting_since=waiting_since,
                    deadline=deadline,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=READ_RETRY,
            )
            if await self._wait_for_decision(remaining, "review-sla"):
                return True
        self._state.pending_action_ids = []
        return False

    async def _wait_for_decision(self, timeout: timedelta, summary: str) -> bool:
        return await self._wait_for(lambda: self._decision is not None, timeout, summary)

    async def _wait_for(
        self, condition: Callable[[], bool], timeout: timedelta, summary: str
    ) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
        except TimeoutError:
            return False
        return True


def _target_of(action: ProposedAction) -> tuple[object, ...]:
    return (
        action.kind,
        action.operation,
        action.target_system,
        action.target_object,
        action.target_record_id,
    )
