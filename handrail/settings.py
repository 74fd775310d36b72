"""All configuration in one pydantic-settings class, loaded at the entry point."""

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.llm.model_reasoner import ModelConfig
from contracts import RolloutMode

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


ReasonerKind = Literal["offline", "openai"]


class LaneOverrides(BaseModel):
    """Per-lane settings; any value left unset falls back to the lane's own default."""

    mode: RolloutMode | None = None
    review_sla: timedelta | None = None
    escalate_after: timedelta | None = None
    scan_cron: str | None = Field(default=None, description="cron (UTC) of the lane's scan")
    reasoner: ReasonerKind | None = None


class Settings(BaseSettings):
    """Handrail settings, read from ``HANDRAIL_*`` environment variables and ``.env``.

    Nested values use ``__``, e.g. ``HANDRAIL_LANES__RENEWAL_RISK__MODE=shadow``.
    """

    model_config = SettingsConfigDict(
        env_prefix="HANDRAIL_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path(".handrail")

    # Temporal: the embedded dev server binds to temporal_host; an external
    # cluster is used as is when temporal_address is set.
    temporal_host: str = "127.0.0.1"
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_ui: bool = True
    task_queue: str = "handrail-lanes"
    # Server-side rate limit for each target system's write queue, in
    # activities per second; it protects the target's API budget.
    write_rate_per_second: float = Field(default=10.0, gt=0)

    database_url: str | None = Field(
        default=None, description="app database; defaults to SQLite under data_dir"
    )
    sandbox_url: str | None = Field(
        default=None, description="embedded sandbox system of record; defaults to SQLite"
    )

    # Who may review, and with which role, in order of preference for the
    # demo's hints. A real deployment replaces this directory with its
    # identity provider.
    reviewers: dict[str, str] = Field(
        default_factory=lambda: {
            "revops@example.com": "revops",
            "ap@example.com": "ap_specialist",
            "finance@example.com": "finance",
            "morgan.manager@example.com": "sales_manager",
        }
    )
    lanes: dict[str, LaneOverrides] = Field(default_factory=dict)
    # The offline rules need no key or network; "openai" uses `model` against
    # any OpenAI-compatible server.
    reasoner: ReasonerKind = "offline"
    model: ModelConfig | None = None
    policy_dir: Path | None = Field(
        default=None, description="folder of lane policy files; defaults to the shipped policies/"
    )
    renewal_window_days: int = Field(default=60, ge=1, le=365)

    @field_validator("temporal_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value not in LOOPBACK_HOSTS:
            raise ValueError(
                f"temporal_host {value!r} is not a loopback address; the embedded dev server "
                "has no authentication, so bind it to 127.0.0.1 and use temporal_address "
                "for a remote cluster"
            )
        return value

    @property
    def address(self) -> str:
        return self.temporal_address or f"{self.temporal_host}:{self.temporal_port}"

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'handrail.db').resolve()}"

    @property
    def sandbox_database_url(self) -> str:
        return self.sandbox_url or f"sqlite:///{(self.data_dir / 'sandbox.db').resolve()}"

    @property
    def temporal_db_path(self) -> Path:
        return (self.data_dir / "temporal.db").resolve()

    @property
    def run_dir(self) -> Path:
        """Folder for pid files and logs of background processes."""
        return (self.data_dir / "run").resolve()

    def reasoner_for(self, lane: str) -> ReasonerKind:
        overrides = self.lanes.get(lane)
        return (overrides and overrides.reasoner) or self.reasoner

    def write_queue(self, target_system: str) -> str:
        return f"{self.task_queue}-writes-{target_system}"
