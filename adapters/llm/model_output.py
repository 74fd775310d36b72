"""The output a model returns for a lane and its strict JSON schema.

Strict structured outputs forbid free-form objects, so an action's fields are a
list of ``{name, type, value}`` with the value as a string. The validation in
``model_validation`` turns them into the typed values of ``contracts.values``.
"""

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import ActionKind, Operation, RiskLevel
from policies.engine import LanePolicy

MAX_ERRORS = 20


class _Output(BaseModel):
    # Strict JSON validation still accepts enum values as strings, but rejects
    # numbers sent as strings and any property the schema does not list.
    model_config = ConfigDict(extra="forbid", strict=True)


class OutputField(_Output):
    """One field an action writes; ``value`` is the field's value written as a string."""

    name: str
    type: Literal["text", "decimal", "integer", "boolean", "date"]
    value: str = Field(
        description="decimal as 1234.50, integer as 12, boolean as true or false, "
        "date as YYYY-MM-DD"
    )


class OutputAction(_Output):
    """One proposed write to the system of record."""

    action_id: str = Field(description="1 to 64 of a-z, 0-9, _ and -; unique in the output")
    kind: ActionKind
    operation: Operation
    target_object: str
    target_record_id: str | None = Field(
        description="the record to update; null when the action creates a record"
    )
    fields: list[OutputField]
    rationale: str


class OutputEvidence(_Output):
    """An observation and the context field it comes from."""

    field: str = Field(description="name of a field in the context")
    observation: str


class ModelOutput(_Output):
    """The whole output of the model for one run."""

    summary: str
    risk_level: RiskLevel | None
    classification: str | None
    recommendation: str | None
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[OutputEvidence]
    actions: list[OutputAction]


class InvalidOutput(Exception):
    """The model's output failed validation; ``errors`` lists where and why."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def output_schema(policy: LanePolicy) -> dict[str, Any]:
    """Return the strict JSON schema of :class:`ModelOutput`, narrowed to the lane's targets.

    Every property is required, nullable values are ``anyOf`` with null, every
    object has ``additionalProperties: false`` and references are inlined, as
    OpenAI's strict mode requires and local servers' grammar converters accept.
    """
    raw = ModelOutput.model_json_schema()
    schema: dict[str, Any] = _strict(raw, raw.get("$defs", {}))
    schema.pop("$defs", None)
    schema.pop("description", None)
    action = schema["properties"]["actions"]["items"]["properties"]
    action["kind"]["enum"] = sorted({target.kind.value for target in policy.targets})
    action["target_object"]["enum"] = sorted({target.object for target in policy.targets})
    field_names = sorted({name for target in policy.targets for name in target.fields})
    action["fields"]["items"]["properties"]["name"]["enum"] = field_names
    return schema


def _strict(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = _strict(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        # A class's description is its docstring, written for programmers.
        resolved.pop("description", None)
        return {**resolved, **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "default", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _strict(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _strict(value, defs)
    if out.get("type") == "object":
        out["required"] = list(out.get("properties", {}))
        out["additionalProperties"] = False
    return out


def schema_errors(err: ValidationError) -> list[str]:
    """Return one ``location: message`` line per validation error, without the input values."""
    errors = []
    for item in err.errors(include_input=False, include_url=False)[:MAX_ERRORS]:
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
        )
        errors.append(f"{location.lstrip('.') or 'output'}: {item['msg']}")
    return errors
