"""The declarative definition of a lane."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from contracts import PolicySnippet, RolloutMode


@dataclass(frozen=True)
class LaneSpec:
    """Everything that makes a lane, as data.

    Code is named by dotted path (``package.module:attribute``) and imported by
    the worker at start, so workflow code never imports activity code.
    """

    name: str
    event_types: tuple[str, ...]
    default_mode: RolloutMode
    review_sla: timedelta
    escalate_after: timedelta
    reviewer_roles: tuple[str, ...]
    source_system: str
    # Object name -> the only fields the lane may read from it.
    reads: Mapping[str, frozenset[str]]
    # File name under policies/, e.g. renewal_risk.yaml.
    policy: str
    context_builder: str
    reasoner: str
    scan: str | None = None
    scan_cron: str | None = None
    policy_snippets: tuple[PolicySnippet, ...] = ()
    # Context fields naming people who may not review the run, such as a
    # bill's requester (segregation of duties).
    conflicted_reviewer_fields: tuple[str, ...] = ()
