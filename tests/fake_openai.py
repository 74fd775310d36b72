"""A fake OpenAI chat completions server for tests, driven by a per-test script.

Each test queues behaviours (a completion, a tool call, a refusal, an error, a
slow reply) and the server responds to ``POST /v1/chat/completions`` with the next
one, in the response shapes of the ``openai`` package's types. It records every
request so tests can check what the client sent. It listens on 127.0.0.1 only.
"""

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

# A dated snapshot id, as OpenAI returns for a model requested by its alias.
SERVED_MODEL = "gpt-test-2026-01-01"


@dataclass(frozen=True)
class Behaviour:
    """One scripted reply: status, headers, a delay and a JSON body or a function of the request."""

    status: int = 200
    body: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_messages(self) -> list[str]:
        return [m.get("content") or "" for m in self.body["messages"] if m["role"] == "user"]


class FakeOpenAI:
    """The script, the recorded requests and the FastAPI app that serves them."""

    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.requests: list[RecordedRequest] = []
        self.base_url = ""
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._complete, methods=["POST"])
        # Set when the server stops, so a slow reply ends instead of holding up shutdown.
        self.closing = threading.Event()

    def queue(self, *behaviours: Behaviour) -> None:
        """Append behaviours; each request takes the next one."""
        self.script.extend(behaviours)

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(RecordedRequest(headers=dict(request.headers), body=body))
        if not self.script:
            return JSONResponse(
                status_code=500,
                content=error_body("fake server: no scripted reply left", "server_error", None),
            )
        behaviour = self.script.popleft()
        await self._wait(behaviour.delay_seconds)
        content = behaviour.body(body) if callable(behaviour.body) else behaviour.body
        headers = {"x-request-id": f"req_fake_{len(self.requests)}", **behaviour.headers}
        return JSONResponse(status_code=behaviour.status, content=content, headers=headers)

    async def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closing.is_set():
            await asyncio.sleep(0.02)


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Run the fake in a background thread on a free 127.0.0.1 port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake OpenAI server did not start within 10 s")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        fake.closing.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def usage(prompt: int = 1200, completion: int = 300, cached: int = 0) -> dict[str, Any]:
    """A usage object with every optional detail, as OpenAI returns it."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _completion_body(
    message: dict[str, Any],
    finish_reason: str,
    model: str,
    token_usage: dict[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": None,
                    "function_call": None,
                    "audio": None,
                    **message,
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    # Local servers may leave usage out entirely; None stands for that.
    if token_usage is not None:
        body["usage"] = token_usage
    return body


def completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    model: str = SERVED_MODEL,
    token_usage: dict[str, Any] | None = None,
    delay_seconds: float = 0.0,
) -> Behaviour:
    """A chat completion whose message content is ``content`` (JSON text in json_schema mode)."""
    return Behaviour(
        body=_completion_body({"content": content}, finish_reason, model, token_usage or usage()),
        delay_seconds=delay_seconds,
    )


def json_completion(output: dict[str, Any], **options: Any) -> Behaviour:
    """A normal json_schema completion whose content is ``output`` as JSON."""
    return completion(json.dumps(output), **options)


def no_usage_completion(output: dict[str, Any]) -> Behaviour:
    """A completion without a ``usage`` object, as some local servers send."""
    return Behaviour(
        body=_completion_body({"content": json.dumps(output)}, "stop", SERVED_MODEL, None)
    )


def tool_call(
    arguments: str, *, finish_reason: str = "tool_calls", name: str | None = None
) -> Behaviour:
    """A completion that calls a function with ``arguments`` (a JSON string).

    Without ``name`` the call uses the function the request's ``tool_choice`` forces.
    """

    def body(request: dict[str, Any]) -> dict[str, Any]:
        called = name or request["tool_choice"]["function"]["name"]
        call = {
            "id": f"call_fake_{called}",
            "type": "function",
            "function": {"name": called, "arguments": arguments},
        }
        return _completion_body({"tool_calls": [call]}, finish_reason, SERVED_MODEL, usage())

    return Behaviour(body=body)


def refusal(text: str) -> Behaviour:
    """A structured-outputs refusal: ``refusal`` set, ``content`` null."""
    return Behaviour(body=_completion_body({"refusal": text}, "stop", SERVED_MODEL, usage()))


def error_body(message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def error(
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Behaviour:
    """An error response with OpenAI's ``{"error": {...}}`` body."""
    return Behaviour(
        status=status, body=error_body(message, error_type, code), headers=headers or {}
    )


def rate_limited(headers: dict[str, str]) -> Behaviour:
    """A 429 rate limit with the given retry headers."""
    return error(
        429,
        "Rate limit reached for gpt-test in organization org-fake on tokens per min (TPM): "
        "Limit 30000, Used 29000, Requested 2000. Please try again in 7s.",
        error_type="tokens",
        code="rate_limit_exceeded",
        headers={"x-ratelimit-remaining-tokens": "0", **headers},
    )


def insufficient_quota() -> Behaviour:
    """A 429 that means the account is out of quota."""
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        error_type="insufficient_quota",
        code="insufficient_quota",
    )
