"""The lane_gate activity: the operator's pause switch and mode override for a lane."""

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from contracts import LaneGate, LaneGateInput, RolloutMode
from handrail.db import LaneState


class LaneStateActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="lane_gate")
    def lane_gate(self, input: LaneGateInput) -> LaneGate:
        """Return whether the lane is paused, and its runtime mode override."""
        with Session(self._engine) as session:
            state = session.get(LaneState, input.lane)
        if state is None:
            return LaneGate(paused=False)
        return LaneGate(
            paused=state.paused,
            paused_by=state.paused_by,
            mode=RolloutMode(state.mode) if state.mode else None,
        )
