"""Structured-output requests and replies of the model reasoner, in either structured mode.

``json_schema`` mode sends the schema as ``response_format`` and reads the
message content. ``tools`` mode offers one function whose parameters are the
schema, forces the model to call it, and reads the call's arguments.
"""

from dataclasses import dataclass
from typing import Any, Literal

from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from adapters.llm.model_prompt import repair_message

StructuredMode = Literal["json_schema", "tools"]


@dataclass(frozen=True)
class Reply:
    """The parts of a chat completion a reasoner acts on."""

    finish_reason: str | None
    refusal: str | None
    # The JSON text to validate: the message content, or the tool call's
    # arguments. None when the model produced neither.
    output: str | None
    # The assistant message as it goes back to the server in a repair request.
    message: dict[str, Any]


@dataclass(frozen=True)
class StructuredOutput:
    """The output schema of a lane and the mode used to request it."""

    mode: StructuredMode
    name: str
    schema: dict[str, Any]

    def request_options(self) -> dict[str, Any]:
        """Return the request parameters that ask for output matching the schema."""
        if self.mode == "json_schema":
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
                }
            }
        return {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": self.name,
                        "description": "Submit the proposal for this run.",
                        "parameters": self.schema,
                        "strict": True,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": self.name}},
            "parallel_tool_calls": False,
        }

    def normal_finish_reasons(self) -> frozenset[str]:
        """Return the finish reasons of a complete output.

        Some servers report ``stop`` for a forced tool call, so tools mode takes both.
        """
        if self.mode == "tools":
            return frozenset({"stop", "tool_calls"})
        return frozenset({"stop"})

    def read(self, response: ChatCompletion) -> Reply:
        """Return the first choice's finish reason, refusal and output text."""
        if not response.choices:
            return Reply("stop", None, None, {"role": "assistant", "content": ""})
        choice = response.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        content = message.content
        if self.mode == "json_schema":
            return Reply(
                choice.finish_reason,
                refusal,
                content,
                {"role": "assistant", "content": content or ""},
            )

        calls = [call for call in message.tool_calls or [] if call.type == "function"]
        if not calls:
            return Reply(
                choice.finish_reason,
                refusal,
                None,
                {"role": "assistant", "content": content or ""},
            )
        call = calls[0]
        assistant = {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        }
        output = call.function.arguments if call.function.name == self.name else None
        return Reply(choice.finish_reason, refusal, output, assistant)

    def repair_messages(self, reply: Reply, errors: list[str]) -> list[ChatCompletionMessageParam]:
        """Return the messages that show the model its output and the errors in it."""
        text = repair_message(errors)
        tool_calls = reply.message.get("tool_calls")
        if tool_calls:
            # After a tool call the protocol expects the tool's result next.
            return [
                reply.message,  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": tool_calls[0]["id"], "content": text},
            ]
        if self.mode == "tools":
            text += f"\nCall the function {self.name} with the corrected output as its arguments."
        return [reply.message, {"role": "user", "content": text}]  # type: ignore[list-item]
