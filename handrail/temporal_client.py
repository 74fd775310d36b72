"""Connecting to Temporal with Handrail's data converter."""

import asyncio
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from handrail.settings import Settings

logger = logging.getLogger(__name__)


class TemporalUnavailable(RuntimeError):
    """The Temporal server could not be reached; the caller should retry later."""


async def connect(settings: Settings, *, timeout_seconds: float = 5.0) -> Client:
    """Connect to the configured Temporal server with the pydantic data converter.

    Raises:
        TemporalUnavailable: no server answered within ``timeout_seconds``.
    """
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.address,
                namespace=settings.temporal_namespace,
                data_converter=pydantic_data_converter,
            ),
            timeout=timeout_seconds,
        )
    except (TimeoutError, RPCError, RuntimeError, OSError) as err:
        raise TemporalUnavailable(
            f"Temporal server at {settings.address} is not reachable ({type(err).__name__}); "
            "start it with `handrail dev` or `handrail demo`, or set HANDRAIL_TEMPORAL_ADDRESS"
        ) from err


async def is_serving(address: str, namespace: str = "default") -> bool:
    """Return True when a Temporal frontend answers a health check at ``address``."""
    try:
        client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout=2.0)
        return await asyncio.wait_for(client.service_client.check_health(), timeout=2.0)
    except (TimeoutError, RPCError, RuntimeError, OSError):
        return False
