"""Engine and schema helpers for the sandbox database (SQLite or PostgreSQL)."""

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
)

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


# One row: the id of this sandbox instance. A reset gives a new id, as a
# refreshed CRM sandbox gets a new org id, so runs on old data never collide
# with runs on new data.
INSTANCE_TABLE = Table(
    "sbx_instance",
    MetaData(),
    Column("id", String(16), primary_key=True),
)


def create_schema(engine: Engine) -> None:
    """Create the sandbox tables that do not exist yet; other tables are left alone."""
    SANDBOX_TABLES[0].metadata.create_all(engine, tables=SANDBOX_TABLES)
    INSTANCE_TABLE.create(engine, checkfirst=True)
    with engine.begin() as connection:
        if connection.execute(select(INSTANCE_TABLE.c.id)).first() is None:
            connection.execute(INSTANCE_TABLE.insert().values(id=secrets.token_hex(3)))


def instance_id(engine: Engine) -> str:
    """Return the id of this sandbox instance, creating the schema if needed."""
    with engine.connect() as connection:
        row = connection.execute(select(INSTANCE_TABLE.c.id)).first()
    if row is None:
        create_schema(engine)
        return instance_id(engine)
    return str(row[0])


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
    INSTANCE_TABLE.drop(engine, checkfirst=True)
    create_schema(engine)
