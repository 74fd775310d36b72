"""A reasoner backed by an OpenAI-compatible chat completions server.

It works with OpenAI and with local servers that speak the same API (Ollama,
vLLM, llama.cpp's ``llama-server``). The model proposes and policy decides: the
output is validated here against the lane's writable targets and the run's
records before it becomes an ``AgentProposal``.

Each ``propose`` makes at most three calls: the first call, one retry with twice
the token budget when a call does not finish normally, and one repair call that
sends validation errors back. The client itself never retries, because
Temporal's retry policy owns retries.
"""

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Literal

import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, ConfigDict, Field

from adapters.llm.base import (
    ReasonerAuthFailed,
    ReasonerBadRequest,
    ReasonerOutputInvalid,
    ReasonerRefused,
    ReasonerTruncated,
)
from adapters.llm.model_checks import untrusted_fields
from adapters.llm.model_completion import Reply, StructuredMode, StructuredOutput
from adapters.llm.model_errors import reasoner_error, repeats_request
from adapters.llm.model_output import InvalidOutput, output_schema
from adapters.llm.model_prompt import load_prompt, user_message
from adapters.llm.model_usage import ModelPrice, UsageTally
from adapters.llm.model_validation import check_output
from contracts import AgentProposal, ContextBundle, EventEnvelope
from policies.engine import LanePolicy

logger = logging.getLogger(__name__)

MAX_REFUSAL_CHARS = 200
MAX_ERRORS_LISTED = 5


class ModelConfig(BaseModel):
    """Settings of a model-backed reasoner. The API key itself is never stored here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, description="model id sent to the server")
    base_url: str = Field(min_length=1, description="e.g. http://127.0.0.1:11434/v1")
    api_key_env: str = Field(
        default="OPENAI_API_KEY", description="environment variable that contains the API key"
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=2000, gt=0, description="output token budget of a call")
    # OpenAI's newer models reject max_tokens and want max_completion_tokens;
    # local servers read max_tokens.
    max_tokens_parameter: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    timeout_seconds: float = Field(default=60.0, gt=0, description="per call, in seconds")
    structured_mode: StructuredMode = "json_schema"
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="model id -> prices per million tokens"
    )
    allowed_link_domains: tuple[str, ...] = Field(
        default=(), description="domains generated text may link to, subdomains included"
    )


class ModelReasoner:
    """Turns a lane's context into a proposal with an OpenAI-compatible model.

    Args:
        lane: the lane this reasoner serves; contexts of other lanes are rejected.
        config: model, server and budget settings.
        prompt_path: the lane's prompt file. Its content hash is the reasoner's version.
        policy: the lane's policy, whose writable targets bound the output.
        client: an ``openai.OpenAI`` client to use instead of one built from
            ``config``. Its retries are switched off and its timeout set from
            ``config``. Defaults to None.

    Raises:
        ReasonerAuthFailed: no client was given and ``config.api_key_env`` is unset.
        FileNotFoundError: the prompt file does not exist.
    """

    def __init__(
        self,
        *,
        lane: str,
        config: ModelConfig,
        prompt_path: Path,
        policy: LanePolicy,
        client: openai.OpenAI | None = None,
    ) -> None:
        prompt = load_prompt(prompt_path)

        self.name = f"model:{config.model}"
        self.version = prompt.version
        self._lane = lane
        self._config = config
        self._prompt = prompt.text
        self._policy = policy
        self._structured = StructuredOutput(
            mode=config.structured_mode, name=f"{lane}_proposal", schema=output_schema(policy)
        )

        self._api_key = os.environ.get(config.api_key_env, "")
        if client is None:
            if not self._api_key:
                raise ReasonerAuthFailed(
                    f"environment variable {config.api_key_env} is not set; set it to the "
                    "API key (any non-empty value for a local server that ignores keys)"
                )
            client = openai.OpenAI(
                base_url=config.base_url,
                api_key=self._api_key,
                timeout=config.timeout_seconds,
                max_retries=0,
            )
        else:
            client = client.with_options(max_retries=0, timeout=config.timeout_seconds)
        self._client = client

        # Keys that error messages must never show: the one from the environment
        # and the one an injected client carries.
        self._secrets = [
            key for key in (self._api_key, client.api_key) if isinstance(key, str) and key
        ]

    def propose(self, event: EventEnvelope, context: ContextBundle, now: datetime) -> AgentProposal:
        """Ask the model for a proposal on ``context`` and validate it.

        Raises:
            ReasonerRefused: the model set ``message.refusal``.
            ReasonerTruncated: two calls in a row did not finish normally.
            ReasonerOutputInvalid: the output was still invalid after one repair.
            ReasonerRateLimited: the server returned 429 (not a quota error).
            ReasonerUnavailable: timeout, connection failure or a 5xx.
            ReasonerAuthFailed: 401, 403 or a 429 for exhausted quota.
            ReasonerBadRequest: 400, 404 or 422, or a context of another lane.
        """
        if context.lane != self._lane:
            raise ReasonerBadRequest(
                f"context is for lane {context.lane}, but this reasoner serves {self._lane}"
            )
        subject = f"{context.subject.object} {context.subject.id}"
        tally = UsageTally(model=self._config.model)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": self._prompt},
            {"role": "user", "content": user_message(event, context, now)},
        ]
        budget = self._config.max_tokens
        budget_raised = False
        repaired = False
        while True:
            reply = self._complete(messages, budget, tally, subject)

            # Refusal first: a refusal with a normal finish is still a refusal.
            if reply.refusal:
                self._log_failure("refused", subject, tally)
                raise ReasonerRefused(
                    f"model {self._config.model} refused to assess {subject}: "
                    f"{_refusal_text(reply.refusal, messages)}"
                )

            # A call cut short is never parsed or repaired. It is retried once
            # with twice the budget.
            if reply.finish_reason not in self._structured.normal_finish_reasons():
                if budget_raised:
                    self._log_failure("truncated", subject, tally)
                    raise ReasonerTruncated(
                        f"model {self._config.model} stopped with finish_reason "
                        f"{reply.finish_reason!r} on {subject} again with max_tokens {budget}; "
                        "raise max_tokens or check the server's content filter"
                    )
                logger.info(
                    "model call on %s ended with finish_reason %s; retrying with max_tokens %d",
                    subject,
                    reply.finish_reason,
                    budget * 2,
                )
                budget *= 2
                budget_raised = True
                continue

            # Validate the output, and send the errors back once if it is invalid.
            try:
                checked = check_output(
                    reply.output,
                    context=context,
                    policy=self._policy,
                    allowed_link_domains=self._config.allowed_link_domains,
                )
            except InvalidOutput as invalid:
                if repaired:
                    self._log_failure("invalid after repair", subject, tally)
                    listed = "; ".join(invalid.errors[:MAX_ERRORS_LISTED])
                    more = len(invalid.errors) - MAX_ERRORS_LISTED
                    raise ReasonerOutputInvalid(
                        f"model {self._config.model} output for {subject} is invalid after "
                        f"one repair: {listed}" + (f" (and {more} more)" if more > 0 else "")
                    ) from None
                logger.info(
                    "model output for %s is invalid (%d errors); sending one repair request",
                    subject,
                    len(invalid.errors),
                )
                messages = [*messages, *self._structured.repair_messages(reply, invalid.errors)]
                repaired = True
                continue

            output = checked.output
            return AgentProposal(
                summary=output.summary,
                risk_level=output.risk_level,
                classification=output.classification,
                recommendation=output.recommendation,
                confidence=output.confidence,
                evidence=checked.evidence,
                actions=checked.actions,
                reasoner=f"{self.name}@{self.version}",
                untrusted_inputs=untrusted_fields(context),
                prompt_version=self.version,
                usage=tally.usage(self._config.prices, self._config.model),
            )

    def _complete(
        self,
        messages: list[ChatCompletionMessageParam],
        budget: int,
        tally: UsageTally,
        subject: str,
    ) -> Reply:
        """Make one call and read its first choice, turning a failed call into a reasoner error."""
        options = {
            self._config.max_tokens_parameter: budget,
            **self._structured.request_options(),
        }

        started = time.monotonic()
        failure = None
        try:
            response = self._client.chat.completions.create(
                model=self._config.model,
                messages=messages,
                temperature=self._config.temperature,
                **options,
            )
        except openai.APIError as err:
            failure = reasoner_error(
                err,
                base_url=self._config.base_url,
                timeout_seconds=self._config.timeout_seconds,
                api_key_env=self._config.api_key_env,
                secrets=self._secrets,
                request_text=_request_text(messages),
            )
        finally:
            tally.calls += 1
            tally.latency_ms += round((time.monotonic() - started) * 1000)
        if failure is not None:
            # Raised outside the except block so the client's error, which holds
            # the request and its Authorization header, is not chained to it.
            self._log_failure(type(failure).__name__, subject, tally)
            raise failure
        tally.add(response)
        return self._structured.read(response)

    def _log_failure(self, outcome: str, subject: str, tally: UsageTally) -> None:
        logger.warning(
            "model %s on %s failed (%s) after %d call(s): %d prompt and %d completion tokens",
            self._config.model,
            subject,
            outcome,
            tally.calls,
            tally.prompt_tokens,
            tally.completion_tokens,
        )


def _request_text(messages: list[ChatCompletionMessageParam]) -> str:
    return "\n".join(str(message.get("content") or "") for message in messages)


def _refusal_text(refusal: str, messages: list[ChatCompletionMessageParam]) -> str:
    """Return the refusal on one line, cut short, or a placeholder if it quotes the request."""
    flat = " ".join(refusal.split())
    if repeats_request(flat, _request_text(messages)):
        return "(the refusal is left out because it quotes the prompt or context)"
    return flat if len(flat) <= MAX_REFUSAL_CHARS else flat[:MAX_REFUSAL_CHARS] + "..."
