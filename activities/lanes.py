"""Activity-side lane bindings: what each lane reads, how it reasons and which policy applies.

The workflow side of a lane (its ``LaneSpec`` and workflow class) lives in
``workflows/``; both halves are looked up by lane name.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from temporalio.exceptions import ApplicationError

from activities.errors import UNKNOWN_LANE
from activities.scoped_reader import ScopedReader
from adapters.llm.base import Reasoner
from contracts import ContextBundle, EventEnvelope, PolicySnippet
from policies.engine import LanePolicy

ContextBuilder = Callable[[ScopedReader, EventEnvelope, datetime], ContextBundle]


@dataclass(frozen=True)
class LaneBinding:
    name: str
    source_system: str
    # Object name -> the only fields the lane may read from it.
    reads: Mapping[str, frozenset[str]]
    build_context: ContextBuilder
    reasoner: Reasoner
    policy: LanePolicy
    policy_snippets: tuple[PolicySnippet, ...] = ()


class LaneRegistry:
    """Lane bindings by name."""

    def __init__(self, bindings: list[LaneBinding]) -> None:
        self._bindings = {binding.name: binding for binding in bindings}

    def get(self, name: str) -> LaneBinding:
        try:
            return self._bindings[name]
        except KeyError:
            raise ApplicationError(
                f"unknown lane {name!r}; known lanes: {', '.join(sorted(self._bindings))}",
                type=UNKNOWN_LANE,
                non_retryable=True,
            ) from None

    def names(self) -> list[str]:
        return sorted(self._bindings)
