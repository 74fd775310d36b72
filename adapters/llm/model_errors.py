"""Map failures of an OpenAI-compatible chat completions call to the typed reasoner errors.

Messages name the server, the HTTP status and the server's error type and code.
They never contain the API key, and they drop a server message that repeats
request content, because some servers echo the offending input in a 400 or 422.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import openai

from adapters.llm.base import (
    ReasonerAuthFailed,
    ReasonerBadRequest,
    ReasonerError,
    ReasonerRateLimited,
    ReasonerUnavailable,
)

# Error types and codes OpenAI sends with a 429 when the account is out of quota
# or over a spend limit. Waiting does not help, so they are not rate limits.
QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
    }
)
BAD_REQUEST_STATUSES = frozenset({400, 404, 413, 422})
MAX_SERVER_MESSAGE = 200
# A server message sharing this many consecutive characters with the request
# text is treated as an echo of the prompt or context and left out.
ECHO_WINDOW = 32
KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_*\-]{4,}|Bearer\s+\S+)")


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Return the wait a 429 requests, in seconds, or None when no header gives one.

    ``retry-after-ms`` (milliseconds, OpenAI's own header) wins over the standard
    ``retry-after``, which contains seconds or an HTTP date.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def reasoner_error(
    err: openai.APIError,
    *,
    base_url: str,
    timeout_seconds: float,
    api_key_env: str,
    secrets: Sequence[str],
    request_text: str,
) -> ReasonerError:
    """Build the typed reasoner error for a failed chat completions call.

    Args:
        err: the error the ``openai`` client raised.
        base_url: the server's base URL, named in the message.
        timeout_seconds: the client timeout, named when the call timed out.
        api_key_env: the environment variable holding the key, named on 401 and 403.
        secrets: strings removed from any server message (the API key).
        request_text: the prompt and context sent; a server message repeating
            part of it is left out.
    """
    if isinstance(err, openai.APITimeoutError):
        return ReasonerUnavailable(
            f"model server at {base_url} did not respond within {timeout_seconds:g} s; "
            "retry later or raise timeout_seconds"
        )
    if isinstance(err, openai.APIConnectionError):
        cause = type(err.__cause__).__name__ if err.__cause__ else "connection error"
        return ReasonerUnavailable(
            f"could not connect to the model server at {base_url} ({cause}); "
            "check base_url and that the server is running"
        )
    if not isinstance(err, openai.APIStatusError):
        return ReasonerUnavailable(
            f"model server at {base_url} returned a response that is not a chat completion"
        )

    status = err.status_code
    detail = _detail(err, secrets=secrets, request_text=request_text)
    if status == 429 and (err.type in QUOTA_CODES or err.code in QUOTA_CODES):
        return ReasonerAuthFailed(
            f"model account is out of quota or over its spend limit{detail}; "
            "add credit or raise the limit, retrying cannot help"
        )
    if status == 429:
        wait = retry_after_seconds(err.response.headers)
        when = f"retry after {wait:g} s" if wait is not None else "retry later"
        return ReasonerRateLimited(f"model server rate limit reached{detail}; {when}", wait)
    if status in (401, 403):
        return ReasonerAuthFailed(
            f"model server rejected the API key from {api_key_env}{detail}; "
            "check the key and its permissions"
        )
    if status in BAD_REQUEST_STATUSES:
        return ReasonerBadRequest(
            f"model server rejected the request{detail}; check the model name, "
            "base_url and whether the server supports the structured_mode"
        )
    if status in (408, 409) or status >= 500:
        return ReasonerUnavailable(f"model server failed{detail}; retry later")
    return ReasonerBadRequest(f"model server rejected the request{detail}")


def _detail(err: openai.APIStatusError, *, secrets: Sequence[str], request_text: str) -> str:
    """Return ``" (HTTP 429, type ..., code ...): message"`` with unsafe parts removed."""
    parts = [f"HTTP {err.status_code}"]
    if err.type:
        parts.append(f"type {err.type}")
    if err.code:
        parts.append(f"code {err.code}")
    if err.request_id:
        parts.append(f"request id {err.request_id}")
    message = _server_message(err.body, secrets=secrets, request_text=request_text)
    return f" ({', '.join(parts)})" + (f": {message}" if message else "")


def _server_message(body: object, *, secrets: Sequence[str], request_text: str) -> str:
    raw = body.get("message") if isinstance(body, dict) else body
    if not isinstance(raw, str) or not raw.strip():
        return ""
    message = " ".join(raw.split())
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    message = KEY_LIKE.sub("[redacted]", message)
    if len(message) > MAX_SERVER_MESSAGE:
        message = message[:MAX_SERVER_MESSAGE] + "..."
    if repeats_request(message, request_text):
        return "the server message is left out because it repeats request content"
    return message


def repeats_request(message: str, request_text: str) -> bool:
    """Return True when ``message`` shares ``ECHO_WINDOW`` characters in a row with the request."""
    flat = " ".join(request_text.split())
    return any(
        message[start : start + ECHO_WINDOW] in flat
        for start in range(0, max(1, len(message) - ECHO_WINDOW + 1))
        if len(message) >= ECHO_WINDOW
    )
