"""The policy file format, validated with pydantic, with errors that name file, line and field."""

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import ActionKind, Operation, Verdict

RULE_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
ParamValue = bool | int | float | str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSpec(_Strict):
    """An object a lane may write, with its field allow-list."""

    system: str
    object: str
    operation: Operation
    kind: ActionKind
    fields: list[str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)
    references: list[str] = Field(
        default_factory=list, description="fields that must name a record in the run's context"
    )
    allowed_values: dict[str, list[str]] = Field(default_factory=dict)


class ProtectedSpec(_Strict):
    """Fields no action may change; no ``fields`` protects the whole object."""

    id: str = Field(pattern=RULE_ID)
    object: str
    fields: list[str] | None = None
    reason: str


class RuleSpec(_Strict):
    """A rule: when the CEL condition is true, the verdict applies with the reason.

    ``scope: run`` rules read the proposal and context only, and apply to every
    action of the run. ``roles`` replaces who may approve what the rule sends to review.
    """

    id: str = Field(pattern=RULE_ID)
    when: str = Field(min_length=1)
    verdict: Verdict
    reason: str = Field(min_length=1)
    scope: Literal["action", "run"] = "action"
    roles: list[str] = Field(default_factory=list)


class PolicyFile(_Strict):
    lane: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    extends: str | None = Field(default=None, description="file name of the base policy")
    description: str = ""
    reviewer_roles: list[str] = Field(default_factory=list)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    required_context: list[str] = Field(default_factory=list)
    targets: list[TargetSpec] = Field(default_factory=list)
    protected: list[ProtectedSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


class PolicyFileError(ValueError):
    """A policy file is unreadable or invalid; the message names the file, line and field."""


def read_policy_file(path: Path) -> tuple[PolicyFile, str]:
    """Parse and validate one policy file; return it with its raw text.

    Raises:
        PolicyFileError: unreadable YAML or a schema violation, with file:line: field.
    """
    try:
        text = path.read_text()
    except OSError as err:
        raise PolicyFileError(f"{path}: cannot read: {err.strerror}") from err
    return parse_policy_text(text, str(path)), text


def parse_policy_text(text: str, path: str) -> PolicyFile:
    """Parse and validate policy text; ``path`` names it in error messages.

    Raises:
        PolicyFileError: invalid YAML or a schema violation, with file:line: field.
    """
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyFileError(f"{path}{line}: invalid YAML: {err}") from err
    if not isinstance(data, dict):
        raise PolicyFileError(f"{path}:1: the file must be a mapping with lane, targets and rules")
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as err:
        problems = []
        for error in err.errors():
            location = [str(part) for part in error["loc"]]
            line_number = _line_of(node, location)
            field = ".".join(location) or "(file)"
            problems.append(f"{path}:{line_number}: {field}: {error['msg']}")
        raise PolicyFileError("\n".join(problems)) from err


def content_hash(*texts: str) -> str:
    """Return the version of a policy: the sha256 of its file and its base file."""
    digest = hashlib.sha256("\n---\n".join(texts).encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def _line_of(node: Any, location: list[str]) -> int:
    """Find the line of the deepest YAML node on ``location``; 1-based."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line = key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and re.fullmatch(r"\d+", part):
            index = int(part)
            if index >= len(node.value):
                break
            node = node.value[index]
            line = node.start_mark.line + 1
        else:
            break
    return line
