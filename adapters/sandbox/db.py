"""Engine and schema helpers for the sandbox database (SQLite or PostgreSQL)."""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, make_url, select

from adapters.sandbox.models import SANDBOX_TABLES


def make_engine(url: str) -> Engine:
    """Create an engine for a sandbox database.

    Args:
        url: a SQLAlchemy URL. For SQLite (``sqlite:///path/to/file.db``) the parent
            folder is created and the journal is switched to WAL, so readers do not
            block the writer. PostgreSQL URLs use psycopg 3; a plain
            ``postgresql://`` URL is read as ``postgresql+psycopg://``.
    """
    parsed = make_url(url)

    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Activities call the adapter from a thread pool, so connections cross threads.
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        return engine

    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite ignores foreign keys unless each connection turns them on.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create the sandbox tables that do not exist yet; other tables are left alone."""
    SANDBOX_TABLES[0].metadata.create_all(engine, tables=SANDBOX_TABLES)


def is_empty(engine: Engine) -> bool:
    """Return True when no sandbox table exists or every sandbox table has no rows."""
    existing = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for table in SANDBOX_TABLES:
            if table.name not in existing:
                continue
            if connection.execute(select(func.count()).select_from(table)).scalar_one():
                return False
    return True


def reset(engine: Engine) -> None:
    """Drop the sandbox tables with all their rows and create them again, empty."""
    metadata = SANDBOX_TABLES[0].metadata
    metadata.drop_all(engine, tables=SANDBOX_TABLES)
    metadata.create_all(engine, tables=SANDBOX_TABLES)
