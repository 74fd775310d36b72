"""Helpers shared by the CLI command modules: settings, async entry and error exits."""

import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from handrail.settings import Settings

T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as err:
        fail(f"invalid settings: {format_validation_error(err)}")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def setup_logging(verbose: bool = False, *, level: str = "INFO") -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Temporal's worker logs every poll error at WARNING during shutdown.
    logging.getLogger("temporalio").setLevel(logging.WARNING if not verbose else logging.INFO)


def format_validation_error(err: ValidationError) -> str:
    parts = []
    for error in err.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Format rows as a plain fixed-width table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
