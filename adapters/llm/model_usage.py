"""Token use, latency and cost summed over the model calls behind one proposal."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict, Field

from contracts import ModelUsage

TOKENS_PER_PRICE_UNIT = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """Prices of one model in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(ge=0)
    cached_input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)


@dataclass
class UsageTally:
    """Usage summed over every call of one ``propose``, retries and repair included."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0
    latency_ms: int = 0
    # Set when a response carried no usage, so the token counts are a lower bound.
    usage_missing: bool = False

    def add(self, response: ChatCompletion) -> None:
        """Add one response's model id and usage; local servers may omit any part of them."""
        if response.model:
            self.model = response.model
        usage = response.usage
        if usage is None:
            self.usage_missing = True
            return
        self.prompt_tokens += usage.prompt_tokens or 0
        self.completion_tokens += usage.completion_tokens or 0
        details = usage.prompt_tokens_details
        if details is not None and details.cached_tokens:
            self.cached_tokens += details.cached_tokens

    def cost(self, prices: Mapping[str, ModelPrice], configured_model: str) -> Decimal | None:
        """Return the cost in US dollars, or None without a price or with incomplete usage.

        The price is looked up under the model id the server returned, then under
        the configured id, because servers often respond with a dated snapshot id.
        """
        price = prices.get(self.model) or prices.get(configured_model)
        if price is None or self.usage_missing:
            return None
        uncached = max(0, self.prompt_tokens - self.cached_tokens)
        total = (
            uncached * price.input
            + self.cached_tokens * price.cached_input
            + self.completion_tokens * price.output
        )
        return total / TOKENS_PER_PRICE_UNIT

    def usage(self, prices: Mapping[str, ModelPrice], configured_model: str) -> ModelUsage:
        """Return the tally as the proposal's ``ModelUsage``."""
        return ModelUsage(
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            calls=max(1, self.calls),
            latency_ms=self.latency_ms,
            cost_usd=self.cost(prices, configured_model),
        )
