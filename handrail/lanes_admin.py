"""Operator switches for lanes: rollout mode, pause and resume, each recorded in the audit table."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from contracts import ResumeSignal, RolloutMode, StatusReason
from gateway.submit import lane_run_settings
from handrail.db import AuditRecord, LaneState, utcnow
from handrail.settings import Settings
from workflows import search_attributes as sa
from workflows.catalog import LANE_WORKFLOWS, lane_spec
from workflows.lane import LaneWorkflow


@dataclass(frozen=True)
class LaneSummary:
    lane: str
    mode: RolloutMode
    mode_source: str
    mode_changed_by: str | None
    paused: bool
    paused_by: str | None
    paused_at: datetime | None
    shadow_reviews: int
    shadow_agreed: int

    @property
    def agreement_rate(self) -> float | None:
        """Share of shadow reviews where the reviewer approved the agent's proposal unchanged."""
        return self.shadow_agreed / self.shadow_reviews if self.shadow_reviews else None


def list_lanes(engine: Engine, settings: Settings) -> list[LaneSummary]:
    summaries = []
    with Session(engine) as session:
        for name in sorted(LANE_WORKFLOWS):
            spec = lane_spec(name)
            state = session.get(LaneState, name)
            if state is not None and state.mode:
                mode, source = RolloutMode(state.mode), "set at run time"
            elif name in settings.lanes and settings.lanes[name].mode:
                mode, source = lane_run_settings(spec, settings).mode, "settings"
            else:
                mode, source = spec.default_mode, "lane default"
            reviews = session.exec(
                select(AuditRecord.detail_json).where(
                    AuditRecord.lane == name, AuditRecord.step == "shadow_review"
                )
            ).all()
            agreed = sum(1 for detail in reviews if json.loads(detail).get("agreed") == "true")
            summaries.append(
                LaneSummary(
                    lane=name,
                    mode=mode,
                    mode_source=source,
                    mode_changed_by=state.mode_changed_by if state else None,
                    paused=bool(state and state.paused),
                    paused_by=state.paused_by if state else None,
                    paused_at=state.paused_at if state else None,
                    shadow_reviews=len(reviews),
                    shadow_agreed=agreed,
                )
            )
    return summaries


def set_mode(engine: Engine, lane: str, mode: RolloutMode, actor: str) -> RolloutMode | None:
    """Set the lane's mode for new runs; return the previous runtime override."""
    lane_spec(lane)
    with Session(engine) as session:
        state = session.get(LaneState, lane) or LaneState(lane=lane)
        previous = RolloutMode(state.mode) if state.mode else None
        state.mode = mode.value
        state.mode_changed_by = actor
        state.mode_changed_at = utcnow()
        session.add(state)
        session.add(_audit(lane, "mode_change", actor, {"from": str(previous or ""), "to": mode}))
        session.commit()
    return previous


def set_paused(engine: Engine, lane: str, paused: bool, actor: str) -> bool:
    """Pause or resume a lane; return whether the state changed."""
    lane_spec(lane)
    with Session(engine) as session:
        state = session.get(LaneState, lane) or LaneState(lane=lane)
        if state.paused == paused:
            return False
        state.paused = paused
        state.paused_by = actor if paused else None
        state.paused_at = utcnow() if paused else None
        session.add(state)
        session.add(_audit(lane, "pause" if paused else "resume", actor, {}))
        session.commit()
    return True


async def wake_paused_runs(client: Client, lane: str, actor: str) -> int:
    """Signal every run of the lane that waits on the pause; return how many were signalled."""
    query = (
        f"{sa.LANE.name} = '{lane}' AND {sa.STATUS_REASON.name} = '{StatusReason.PAUSED.value}' "
        "AND ExecutionStatus = 'Running'"
    )
    woken = 0
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        await handle.signal(LaneWorkflow.resume, ResumeSignal(resumed_by=actor))
        woken += 1
    return woken


def _audit(lane: str, step: str, actor: str, detail: dict[str, str]) -> AuditRecord:
    # Lane changes are not part of a run, so each gets its own id as run_id.
    return AuditRecord(
        workflow_id=f"lane:{lane}",
        run_id=f"admin:{uuid.uuid4().hex}",
        seq=1,
        lane=lane,
        step=step,
        actor=actor,
        at=utcnow(),
        detail_json=json.dumps(detail, sort_keys=True),
    )
