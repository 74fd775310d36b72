"""The shared lane skeleton: every lane workflow subclasses ``LaneWorkflow``.

One run fetches context, proposes, evaluates policy, waits for a reviewer when
policy or the rollout mode requires one, writes back and audits. Workflow code
is deterministic, and all I/O happens in activities.
"""

import asyncio
from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.context import ContextActivities
    from activities.errors import (
        AGENT_HANDOFF,
        AGENT_REFUSED,
        AGENT_REQUEST_REJECTED,
        NOT_FOUND,
        OUTPUT_INVALID,
        OUTPUT_TRUNCATED,
    )
    from activities.policy import PolicyActivities
    from activities.reasoning import ReasoningActivities
    from activities.writeback import WritebackActivities
    from contracts import (
        AgentProposal,
        AuditEntry,
        ContextBundle,
        FetchContextInput,
        LaneInput,
        LaneResult,
        PolicyDecision,
        PolicyInput,
        ProposedAction,
        ProposeInput,
        ReviewDecision,
        ReviewOutcome,
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
    from workflows.lane_audit import payload_hash
    from workflows.modes import WritePlan, plan_writes
    from workflows.retries import READ_RETRY, WRITE_RETRY
    from workflows.review_gate import ReviewGate
    from workflows.spec import LaneSpec


class LaneWorkflow(ReviewGate):
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

    @workflow.query
    def state(self) -> RunState:
        return self._state

    async def run_lane(self) -> LaneResult:
        """Run the lane from event to written, skipped or failed.

        A cancelled run (an operator ended it, for example because its records
        were replaced) closes as skipped / cancelled, so its status never stays
        at needs_review.
        """
        try:
            return await self._run_lane()
        except asyncio.CancelledError:
            self._state.message = "cancelled by an operator"
            self._state.pending_action_ids = []
            return await self._finish(RunStatus.SKIPPED, StatusReason.CANCELLED)

    async def _run_lane(self) -> LaneResult:
        event = self._input.event
        self._upsert_identity()
        self._record("received", event.source_system, event, {"event_id": event.event_id})
        # A paused lane keeps the run waiting here, so no agent step starts until it resumes.
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

        # Write back, one idempotent request per action. A paused lane delays the writes.
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


HANDOFF_REASONS = {
    OUTPUT_INVALID: StatusReason.AGENT_OUTPUT_INVALID,
    AGENT_REFUSED: StatusReason.AGENT_DECLINED,
    OUTPUT_TRUNCATED: StatusReason.AGENT_OUTPUT_TRUNCATED,
}


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _error_message(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or err)
