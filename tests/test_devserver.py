"""The embedded Temporal server: start, reuse, register search attributes, stop."""

import asyncio
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from handrail.devserver import ensure_search_attributes, server_command, start_dev_server
from handrail.settings import Settings
from handrail.temporal_client import is_serving
from tests.conftest import free_port
from workflows import search_attributes as sa


async def test_start_reuse_and_stop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, temporal_port=free_port(), temporal_ui=False)
    server = await start_dev_server(settings)
    try:
        assert server.process is not None
        assert settings.temporal_db_path.exists()
        again = await start_dev_server(settings)
        assert again.process is None
        client = await Client.connect(settings.address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        for key in sa.ALL_KEYS:
            assert key.name in listed.custom_attributes
    finally:
        server.stop()
    await asyncio.sleep(0.5)
    assert not await is_serving(settings.address)


async def test_registers_missing_attributes(tmp_path: Path) -> None:
    """A server started without Handrail's flags gets the attributes on reuse."""
    settings = Settings(data_dir=tmp_path, temporal_port=free_port(), temporal_ui=False)
    command = [
        arg
        for arg in server_command(settings, db_path=None, port=settings.temporal_port, ui_port=None)
    ]
    bare = command[: command.index("--search-attribute")]
    process = await asyncio.create_subprocess_exec(*bare, "--headless")
    try:
        for _ in range(100):
            if await is_serving(settings.address):
                break
            await asyncio.sleep(0.2)
        await ensure_search_attributes(settings)
        client = await Client.connect(settings.address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert sa.STATUS.name in listed.custom_attributes
        assert sa.NEEDS_REVIEW.name in listed.custom_attributes
    finally:
        process.terminate()
        await process.wait()


def test_command_uses_installed_binary_and_loopback(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    command = server_command(settings, db_path=tmp_path / "t.db", port=7233, ui_port=8233)
    assert Path(command[0]).name == "temporal"
    assert command[command.index("--ip") + 1] == "127.0.0.1"
    assert "--ui-disable-news-fetch" in command
    assert "HandrailStatus=Keyword" in command
    assert "HandrailNeedsReview=Bool" in command
