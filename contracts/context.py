"""The narrow context a lane may read for one run."""

from pydantic import AwareDatetime, Field

from contracts.base import Contract, Strict
from contracts.values import FieldValue


class SourceRef(Strict):
    """The source of one context value: system, object, record id and field."""

    system: str
    object: str
    id: str
    field: str
    fetched_at: AwareDatetime


class ContextField(Strict):
    value: FieldValue
    sources: list[SourceRef] = Field(min_length=1)


class PolicySnippet(Strict):
    """An approved piece of business policy the reasoner may cite."""

    id: str
    title: str
    text: str


class RecordRef(Strict):
    system: str
    object: str
    id: str


class ContextBundle(Contract):
    """The lane's declared fields for one subject record, each with its source.

    ``missing`` lists declared fields the system of record had no value for;
    fields a lane did not declare are never fetched and never appear here.
    """

    lane: str
    subject: RecordRef
    fields: dict[str, ContextField]
    missing: list[str] = Field(default_factory=list)
    policy_snippets: list[PolicySnippet] = Field(default_factory=list)
    fetched_at: AwareDatetime
    # Related records the run may propose actions on (the subject, its account,
    # its owner). Policy blocks a write to, or a link with, any other record and
    # sends a task for any other owner to review.
    records_in_scope: list[RecordRef] = Field(default_factory=list)
