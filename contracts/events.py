"""The normalized business event that starts a lane run."""

import re

from pydantic import AwareDatetime, Field, field_validator

from contracts.base import Contract

# Temporal accepts almost any workflow id, but the id is also typed into CLI
# commands and URLs, so keys stay to a conservative character set.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")


class EventEnvelope(Contract):
    """A verified, normalized business event.

    ``idempotency_key`` identifies the business fact (not the delivery), so two
    deliveries of the same fact map to the same workflow id and run once.
    """

    event_id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    source_system: str = Field(min_length=1, max_length=50)
    source_record_type: str = Field(min_length=1, max_length=100)
    source_record_id: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    account_id: str | None = None
    owner_email: str | None = None
    workflow: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="lane name")
    idempotency_key: str
    requested_action: str | None = None
    correlation_id: str | None = None
    payload_version: str = "1"
    raw_ref: str | None = Field(
        default=None, description="sha256 of the raw body as received; never the body"
    )

    @field_validator("idempotency_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
            raise ValueError(
                "idempotency_key must be 1-200 characters of letters, digits and ._:@/- "
                "and start with a letter or digit"
            )
        return value

    @property
    def workflow_id(self) -> str:
        return f"{self.workflow}:{self.idempotency_key}"
