"""Fixtures: one real Temporal dev server per test session, and a seeded sandbox per test."""

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import create_schema, make_engine
from adapters.sandbox.seed import seed_sandbox
from handrail.devserver import start_dev_server
from handrail.settings import Settings
from handrail.worker import Runtime, build_runtime
from tests.helpers import make_settings, today
from tests.pg import throwaway_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_dir() -> Path:
    """The folder of shared test data next to the repository, or HANDRAIL_SHARED_DIR."""
    configured = os.environ.get("HANDRAIL_SHARED_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
async def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Start the embedded dev server on free ports with a temporary database."""
    data_dir = tmp_path_factory.mktemp("temporal")
    settings = Settings(
        data_dir=data_dir,
        temporal_port=free_port(),
        temporal_ui=False,
    )
    server = await start_dev_server(settings)
    yield server.address
    server.stop()


@pytest.fixture(scope="session")
async def client(temporal_address: str) -> Client:
    return await Client.connect(temporal_address, data_converter=pydantic_data_converter)


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str) -> Settings:
    return make_settings(tmp_path, temporal_address)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on a freshly seeded SQLite sandbox and app database."""
    sandbox_engine = make_engine(settings.sandbox_database_url)
    create_schema(sandbox_engine)
    seed_sandbox(sandbox_engine, anchor=today())
    runtime = build_runtime(settings, {"sandbox": SandboxAdapter(sandbox_engine)})
    yield runtime
    runtime.app_engine.dispose()
    sandbox_engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty sandbox database, once on SQLite and once on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        sqlite_engine = make_engine(f"sqlite:///{tmp_path / 'sandbox' / 'sandbox.db'}")
        yield sqlite_engine
        sqlite_engine.dispose()
        return

    with throwaway_database("handrail_sbx") as url:
        postgres_engine = make_engine(url)
        try:
            yield postgres_engine
        finally:
            postgres_engine.dispose()
