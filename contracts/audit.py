"""Append-only audit entries: references and hashes of payloads, never copies."""

from pydantic import AwareDatetime, Field

from contracts.base import Contract


class AuditEntry(Contract):
    workflow_id: str
    run_id: str
    seq: int = Field(default=0, ge=0, description="position of the entry within its run")
    lane: str
    step: str = Field(description="received, context, proposal, policy, review, write, ...")
    actor: str = Field(description="system, a reasoner id, or a reviewer id")
    at: AwareDatetime
    payload_sha256: str | None = None
    refs: dict[str, str] = Field(
        default_factory=dict, description="ids of records, versions and related payload hashes"
    )
    detail: dict[str, str] = Field(
        default_factory=dict, description="short non-sensitive facts: verdicts, status, counts"
    )


class AuditBatch(Contract):
    """Entries a run hands to the audit activity in one call."""

    entries: list[AuditEntry]


class Ack(Contract):
    """The result of an activity that only records something."""

    count: int = 0
    message: str = ""
