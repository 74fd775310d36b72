"""Activity-side lane bindings: the code a lane's spec names, resolved once at worker start.

A lane is declared in ``workflows/<lane>.py`` as a ``LaneSpec``: its events, the
fields it may read, its policy and the dotted names of its context builder,
reasoner and scan. This module imports those names so activities can call them.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.errors import UNKNOWN_LANE
from activities.scoped_reader import ScopedReader
from adapters.base import SystemOfRecord
from adapters.llm.base import Reasoner
from contracts import ContextBundle, EventEnvelope, ScanInput
from workflows.spec import LaneSpec

ContextBuilder = Callable[[ScopedReader, EventEnvelope, datetime], ContextBundle]
Scan = Callable[[SystemOfRecord, ScanInput, str], list[EventEnvelope]]


@dataclass(frozen=True)
class LaneBinding:
    spec: LaneSpec
    build_context: ContextBuilder
    reasoner: Reasoner
    scan: Scan | None


def resolve(dotted: str) -> Any:
    """Import ``package.module:attribute``.

    Raises:
        ValueError: the name is malformed or does not exist.
    """
    module_name, _, attribute = dotted.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{dotted!r} is not of the form package.module:attribute")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot resolve {dotted!r}: {err}") from err


def bind(spec: LaneSpec, reasoner: Reasoner | None = None) -> LaneBinding:
    """Resolve the code a lane spec names; a broken name fails the worker at start.

    Args:
        spec: the lane.
        reasoner: a reasoner to use instead of the lane's offline one. Defaults to None.
    """
    if reasoner is None:
        reasoner = resolve(spec.reasoner)()
    return LaneBinding(
        spec=spec,
        build_context=resolve(spec.context_builder),
        reasoner=reasoner,
        scan=resolve(spec.scan) if spec.scan else None,
    )


class LaneRegistry:
    """Lane bindings by name."""

    def __init__(self, bindings: list[LaneBinding]) -> None:
        self._bindings = {binding.spec.name: binding for binding in bindings}

    @classmethod
    def from_specs(cls, specs: list[LaneSpec]) -> "LaneRegistry":
        return cls([bind(spec) for spec in specs])

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
