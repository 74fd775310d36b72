"""Base models shared by every contract."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A strict model: unknown fields are rejected and values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Contract(Strict):
    """A top-level message that crosses a process boundary.

    ``schema_version`` lets a reader of an old Temporal history or audit row tell
    which shape it is looking at. New fields are added with defaults so that old
    payloads still validate.
    """

    schema_version: int = 1
