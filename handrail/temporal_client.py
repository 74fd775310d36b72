"""Connecting to Temporal with Handrail's data converter."""

import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig, RPCError

from handrail.settings import Settings

logger = logging.getLogger(__name__)

# A probe gives up after a few quick attempts; a call still in flight inside
# the SDK's core when the process exits can abort the interpreter, so probes
# must finish on their own instead of being cancelled by a timeout.
PROBE_RETRIES = RetryConfig(initial_interval_millis=100, max_interval_millis=500, max_retries=3)


class TemporalUnavailable(RuntimeError):
    """The Temporal server could not be reached; the caller should retry later."""


async def connect(settings: Settings) -> Client:
    """Connect to the configured Temporal server with the pydantic data converter.

    Raises:
        TemporalUnavailable: no server answered the health check.
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
    """Return True when a Temporal frontend answers a health check at ``address``."""
    try:
        client = await Client.connect(address, namespace=namespace, retry_config=PROBE_RETRIES)
        return await client.service_client.check_health()
    except (RPCError, RuntimeError, OSError):
        return False
