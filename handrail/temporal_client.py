"""Connecting to Temporal with Handrail's data converter."""

import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig, RPCError

from handrail.settings import Settings

logger = logging.getLogger(__name__)

# A probe gives up after a few quick attempts. It must finish on its own rather
# than be cancelled by a timeout, because a call still in flight inside the
# SDK's core when the process exits can abort the interpreter.
PROBE_RETRIES = RetryConfig(initial_interval_millis=100, max_interval_millis=500, max_retries=3)


class TemporalUnavailable(RuntimeError):
    """The Temporal server could not be reached; the caller should retry later."""


async def connect(settings: Settings) -> Client:
    """Connect to the configured Temporal server with the pydantic data converter.

    Raises:
        TemporalUnavailable: the health check failed.
    """
    if not await is_serving(settings.address, settings.temporal_namespace):
        raise TemporalUnavailable(
            f"Temporal server at {settings.address} is not reachable; start it with "
            "`handrail dev` or `handrail demo`, or set HANDRAIL_TEMPORAL_ADDRESS"
        )
    return await Client.connect(
        settings.address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def is_serving(address: str, namespace: str = "default") -> bool:
    """Return True when the Temporal frontend at ``address`` passes a health check."""
    try:
        client = await Client.connect(address, namespace=namespace, retry_config=PROBE_RETRIES)
        return await client.service_client.check_health()
    except (RPCError, RuntimeError, OSError):
        return False
