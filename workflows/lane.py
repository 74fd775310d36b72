"""The shared lane skeleton: every lane workflow subclasses ``LaneWorkflow``.

One run fetches context, proposes, evaluates policy, waits for a reviewer when
policy or the rollout mode requires one, writes back and audits. Workflow code
is deterministic, and all I/O happens in activities.
"""

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from activities.context import ContextActivities
    from activities.errors import (
        AGENT_HANDOFF,
        AGENT_REFUSED,
        AGENT_REQUEST_REJECTED,
        NOT_FOUND,
        OUTPUT_INVALID,
        OUTPUT_TRUNCATED,
    )
    from activities.lane_state import LaneStateActivities
    from activities.policy import PolicyActivities
    from activities.reasoning import ReasoningActivities
    from activities.writeback import WritebackActivities
    from contracts import (
        AgentProposal,
        AuditBatch,
        AuditEntry,
        ContextBundle,
        EscalationInput,
        FetchContextInput,
        LaneGateInput,
        LaneInput,
        LaneResult,
        PolicyDecision,
        PolicyInput,
        ProposedAction,
        ProposeInput,
        ResumeSignal,
        ReviewDecision,
        ReviewOutcome,
        ReviewReceipt,
        RunState,
        RunStatus,
        StatusReason,
        Verdict,
        WritebackError,
        WritebackRequest,
        WritebackResult,
        WriteErrorKind,
    )
    from workflows import search_attributes as sa
    from workflows.modes import WritePlan, plan_writes
    from workflows.spec import LaneSpec


READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[NOT_FOUND, OUTPUT_INVALID, "AuthFailed", "UnknownLane"],
)
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=["AuthFailed", "UnknownTarget"],
)


def payload_hash(model: BaseModel) -> str:
    """Return the sha256 of a model's canonical JSON; audit rows keep this, not the payload."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()


class LaneWorkflow:
    """Base class of lane workflows. Subclasses set ``spec`` and define ``run``."""

    spec: ClassVar[LaneSpec]

    @workflow.init
    def __init__(self, input: LaneInput) -> None:
        # State exists before the first task so that queries and updates that
        # arrive early see a consistent run.
        self._input = input
        self._state = RunState(
            workflow_id=input.event.workflow_id,
            lane=input.event.workflow,
            status=RunStatus.RECEIVED,
            reason=StatusReason.NONE,
            mode=input.settings.mode,
            event=input.event,
        )
        self._decision: ReviewDecision | None = None
        self._decision_lock = asyncio.Lock()
        self._audit: list[AuditEntry] = []
        self._audit_seq = 0
        self._resume_requested = False

    async def run(self, input: LaneInput) -> LaneResult:
        """Run the lane; each subclass overrides this with ``@workflow.run``."""
        raise NotImplementedError

    @workflow.signal
    def resume(self, signal: ResumeSignal) -> None:
        """Wake a run held by a paused lane; it checks the lane again before going on."""
        self._resume_requested = True

    @workflow.query
    def state(self) -> RunState:
        return self._state

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

    async def run_lane(self) -> LaneResult:
        """Run the lane from event to written, skipped or failed."""
        event = self._input.event
        self._upsert_identity()
        self._record("received", event.source_system, event, {"event_id": event.event_id})
        # A paused lane holds the run here: no agent step until it is resumed.
        await self._wait_while_paused(RunStatus.RECEIVED)

        # Fetch the declared context.
        self._set_status(RunStatus.PROCESSING, StatusReason.FETCHING_CONTEXT)
        try:
            context = await workflow.execute_activity_method(
                ContextActivities.fetch_context,
                FetchContextInput(lane=self.spec.name, event=event),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=READ_RETRY,
            )
        except ActivityError as err:
            if _error_type(err) == NOT_FOUND:
                return await self._finish(RunStatus.SKIPPED, StatusReason.RECORD_NOT_FOUND, err)
            return await self._finish(RunStatus.FAILED, StatusReason.CONTEXT_UNAVAILABLE, err)
        self._state.context = context
        self._record(
            "context",
            "system",
            context,
            {"subject": f"{context.subject.object}/{context.subject.id}"},
            {"fields": str(len(context.fields)), "missing": ",".join(context.missing)},
        )

        # Ask the reasoner for a proposal.
        self._set_status(RunStatus.PROCESSING, StatusReason.PROPOSING)
        try:
            proposal = await workflow.execute_activity_method(
                ReasoningActivities.propose,
                ProposeInput(lane=self.spec.name, event=event, context=context),
                # A model reasoner may make three calls: the first, one retry
                # with a larger budget and one repair.
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=READ_RETRY,
            )
        except ActivityError as err:
            kind = _error_type(err)
            if workflow.patched("agent-handoff-review"):
                if kind in AGENT_HANDOFF:
                    return await self._hand_off(HANDOFF_REASONS[kind], err)
                if kind in ("AuthFailed", AGENT_REQUEST_REJECTED):
                    return await self._finish(
                        RunStatus.FAILED, StatusReason.AGENT_REQUEST_REJECTED, err
                    )
            if kind == OUTPUT_INVALID:
                return await self._finish(RunStatus.FAILED, StatusReason.AGENT_OUTPUT_INVALID, err)
            return await self._finish(RunStatus.FAILED, StatusReason.AGENT_UNAVAILABLE, err)
        self._state.proposal = proposal
        self._state.proposal_version = 1
        if proposal.risk_level is not None:
            workflow.upsert_search_attributes([sa.RISK_LEVEL.value_set(proposal.risk_level.value)])
        usage = proposal.usage
        self._record(
            "proposal",
            proposal.reasoner,
            proposal,
            {
                "context_sha256": payload_hash(context),
                "prompt_version": proposal.prompt_version or "",
            },
            {
                "risk_level": proposal.risk_level.value if proposal.risk_level else "",
                "confidence": f"{proposal.confidence:.2f}",
                "actions": ",".join(a.action_id for a in proposal.actions),
                "untrusted_inputs": ",".join(proposal.untrusted_inputs),
                **(
                    {
                        "model": usage.model,
                        "prompt_tokens": str(usage.prompt_tokens),
                        "completion_tokens": str(usage.completion_tokens),
                        "cached_tokens": str(usage.cached_tokens),
                        "model_calls": str(usage.calls),
                        "latency_ms": str(usage.latency_ms),
                        "cost_usd": str(usage.cost_usd) if usage.cost_usd is not None else "",
                    }
                    if usage
                    else {}
                ),
            },
        )

        # Decide each action with deterministic policy.
        policy = await self._evaluate(proposal, context)
        if not proposal.actions:
            return await self._finish(RunStatus.SKIPPED, StatusReason.NO_ACTION_NEEDED)
        actionable = [
            a for a in proposal.actions if policy.verdict_for(a.action_id) != Verdict.BLOCK
        ]
        if not actionable:
            return await self._finish(RunStatus.SKIPPED, StatusReason.POLICY_BLOCKED)

        plan = plan_writes(
            self._input.settings.mode, [policy.verdict_for(a.action_id) for a in actionable]
        )
        if plan == WritePlan.SHADOW:
            self._state.shadow_writes = [a.action_id for a in actionable]
            self._record(
                "shadow", "system", None, {}, {"would_write": ",".join(self._state.shadow_writes)}
            )
            if workflow.patched("shadow-review"):
                await self._shadow_review(actionable)
            return await self._finish(RunStatus.SKIPPED, StatusReason.SHADOW_MODE)

        # Wait for a reviewer when policy or the rollout mode requires one.
        approved_by: str | None = None
        success_reason = StatusReason.AUTO_APPROVED
        if plan == WritePlan.REVIEW:
            if not await self._await_review(actionable):
                return await self._finish(RunStatus.SKIPPED, StatusReason.REVIEW_EXPIRED)
            decision = self._decision
            assert decision is not None
            self._state.pending_action_ids = []
            self._record(
                "review",
                decision.reviewer_id,
                decision,
                {"proposal_sha256": payload_hash(proposal)},
                {
                    "outcome": decision.outcome.value,
                    "role": decision.reviewer_role,
                    "actions": ",".join(decision.action_ids),
                },
            )
            if decision.outcome == ReviewOutcome.REJECT:
                return await self._finish(RunStatus.SKIPPED, StatusReason.REJECTED_BY_REVIEWER)
            actionable = [a for a in actionable if a.action_id in decision.action_ids]
            if decision.outcome == ReviewOutcome.EDIT:
                edits = {a.action_id: a for a in decision.edited_actions}
                actionable = [edits.get(a.action_id, a) for a in actionable]
                # An edited action is new input: it passes the run's own policy
                # version again before any write.
                edited = proposal.model_copy(update={"actions": actionable})
                policy = await self._evaluate(edited, context, policy.policy_version)
                actionable = [
                    a for a in actionable if policy.verdict_for(a.action_id) != Verdict.BLOCK
                ]
                if not actionable:
                    return await self._finish(RunStatus.SKIPPED, StatusReason.POLICY_BLOCKED)
            approved_by = decision.reviewer_id
            success_reason = StatusReason.APPROVED_BY_REVIEWER

        # Write back, one idempotent request per action; a paused lane holds the writes.
        await self._wait_while_paused(RunStatus.PROCESSING)
        self._set_status(RunStatus.PROCESSING, StatusReason.WRITING)
        for action in actionable:
            result = await self._write(action, proposal, policy, approved_by)
            self._state.writes.append(result)
            self._record(
                "write",
                "system",
                result,
                {
                    "idempotency_key": result.idempotency_key,
                    "target_record_id": result.target_record_id or "",
                },
                {
                    "applied": str(result.applied).lower(),
                    "error": result.error.kind.value if result.error else "",
                },
            )
        applied = [r for r in self._state.writes if r.applied]
        if len(applied) == len(self._state.writes):
            return await self._finish(RunStatus.WRITTEN, success_reason)
        if applied:
            return await self._finish(RunStatus.WRITTEN, StatusReason.PARTIALLY_APPLIED)
        rejected = any(
            r.error and r.error.kind in (WriteErrorKind.REJECTED_BY_TARGET, WriteErrorKind.CONFLICT)
            for r in self._state.writes
        )
        reason = StatusReason.TARGET_REJECTED if rejected else StatusReason.WRITE_FAILED
        return await self._finish(RunStatus.FAILED, reason)

    async def _evaluate(
        self, proposal: AgentProposal, context: ContextBundle, version: str | None = None
    ) -> PolicyDecision:
        self._set_status(RunStatus.PROCESSING, StatusReason.EVALUATING_POLICY)
        decision = await workflow.execute_activity_method(
            PolicyActivities.evaluate_policy,
            PolicyInput(
                lane=self.spec.name, proposal=proposal, context=context, policy_version=version
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=READ_RETRY,
        )
        self._state.policy = decision
        self._record(
            "policy",
            "policy",
            decision,
            {"policy_version": decision.policy_version, "proposal_sha256": payload_hash(proposal)},
            {a.action_id: a.verdict.value for a in decision.actions},
        )
        return decision

    async def _hand_off(self, reason: StatusReason, error: ActivityError) -> LaneResult:
        """Give a person the case when the agent declined or produced nothing usable.

        Nothing is pending, so a reviewer can only close the run after handling
        the record themselves; the SLA applies as for any review.
        """
        self._state.message = _error_message(error)
        # The case itself is what the reviewer decides on, as version 1.
        self._state.proposal_version = 1
        self._record("handoff", "system", None, {}, {"reason": reason.value})
        if not await self._await_review([], reason):
            return await self._finish(RunStatus.SKIPPED, StatusReason.REVIEW_EXPIRED)
        decision = self._decision
        assert decision is not None
        self._record(
            "review",
            decision.reviewer_id,
            decision,
            {},
            {"outcome": decision.outcome.value, "role": decision.reviewer_role},
        )
        return await self._finish(RunStatus.SKIPPED, StatusReason.CLOSED_BY_REVIEWER)

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

    async def _write(
        self,
        action: ProposedAction,
        proposal: AgentProposal,
        policy: PolicyDecision,
        approved_by: str | None,
    ) -> WritebackResult:
        workflow_id = self._state.workflow_id
        request = WritebackRequest(
            workflow_id=workflow_id,
            action_id=action.action_id,
            kind=action.kind,
            target_system=action.target_system,
            target_object=action.target_object,
            target_record_id=action.target_record_id,
            operation=action.operation,
            idempotency_key=f"{workflow_id}:{action.action_id}",
            fields=action.fields,
            agent_output_ref=payload_hash(proposal),
            policy_result=policy.verdict_for(action.action_id),
            policy_version=policy.policy_version,
            approved_by=approved_by,
            requested_at=workflow.now(),
        )
        try:
            return await workflow.execute_activity_method(
                WritebackActivities.write_back,
                request,
                # Each target system has its own queue, rate-limited to its API budget.
                task_queue=f"{workflow.info().task_queue}-writes-{action.target_system}",
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=WRITE_RETRY,
            )
        except ActivityError as err:
            kind = (
                WriteErrorKind.AUTH
                if _error_type(err) == "AuthFailed"
                else WriteErrorKind.TRANSIENT
            )
            return WritebackResult(
                action_id=action.action_id,
                idempotency_key=request.idempotency_key,
                applied=False,
                error=WritebackError(kind=kind, message=_error_message(err)),
            )

    async def _finish(
        self, status: RunStatus, reason: StatusReason, error: ActivityError | None = None
    ) -> LaneResult:
        if error is not None:
            self._state.message = _error_message(error)
            workflow.logger.warning("run ended %s/%s: %s", status, reason, self._state.message)
        self._set_status(status, reason)
        self._record(
            "finished", "system", None, {}, {"status": status.value, "reason": reason.value}
        )
        await self._flush_audit()
        await workflow.wait_condition(workflow.all_handlers_finished)
        proposal = self._state.proposal
        return LaneResult(
            workflow_id=self._state.workflow_id,
            status=status,
            reason=reason,
            risk_level=proposal.risk_level if proposal else None,
            writes=self._state.writes,
            message=self._state.message,
        )

    def _set_status(self, status: RunStatus, reason: StatusReason) -> None:
        self._state.status = status
        self._state.reason = reason
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set(status.value),
                sa.STATUS_REASON.value_set(reason.value),
                sa.NEEDS_REVIEW.value_set(status == RunStatus.NEEDS_REVIEW),
            ]
        )

    def _upsert_identity(self) -> None:
        event = self._input.event
        updates = [
            sa.LANE.value_set(self.spec.name),
            sa.SOURCE_SYSTEM.value_set(event.source_system),
        ]
        if event.account_id:
            updates.append(sa.ACCOUNT_ID.value_set(event.account_id))
        workflow.upsert_search_attributes(updates)

    def _record(
        self,
        step: str,
        actor: str,
        payload: BaseModel | None,
        refs: dict[str, str] | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        self._audit_seq += 1
        info = workflow.info()
        self._audit.append(
            AuditEntry(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                seq=self._audit_seq,
                lane=self.spec.name,
                step=step,
                actor=actor,
                at=workflow.now(),
                payload_sha256=payload_hash(payload) if payload is not None else None,
                refs=refs or {},
                detail=detail or {},
            )
        )

    async def _flush_audit(self) -> None:
        if not self._audit:
            return
        batch = AuditBatch(entries=self._audit)
        self._audit = []
        await workflow.execute_activity_method(
            AuditActivities.record_audit,
            batch,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=READ_RETRY,
        )


HANDOFF_REASONS = {
    OUTPUT_INVALID: StatusReason.AGENT_OUTPUT_INVALID,
    AGENT_REFUSED: StatusReason.AGENT_DECLINED,
    OUTPUT_TRUNCATED: StatusReason.AGENT_OUTPUT_TRUNCATED,
}


def _target_of(action: ProposedAction) -> tuple[object, ...]:
    return (
        action.kind,
        action.operation,
        action.target_system,
        action.target_object,
        action.target_record_id,
    )


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _error_message(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or err)
