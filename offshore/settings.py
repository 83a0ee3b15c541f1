"""One typed settings object, read from `OFFSHORE_*` env vars and `.env`.

Unset Kafka/Postgres endpoints mean "the embedded local stack" (`offshore stack up`); production sets
them to external services and the same code runs unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from offshore.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFSHORE_", env_file=".env", extra="ignore", frozen=True)

    state_dir: Path = Field(Path(".offshore"), description="Local state: stack data, logs, caches.")
    kafka_bootstrap: str | None = Field(None, description="host:port list; unset = embedded broker.")
    postgres_dsn: str | None = Field(None, description="libpq URL; unset = embedded Postgres.")
    stack_kafka_port: int = Field(0, ge=0, le=65535, description="Embedded broker port; 0 = any free port.")
    stack_postgres_port: int = Field(0, ge=0, le=65535, description="Embedded Postgres port; 0 = any free.")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    near_rpc_url: str = Field("http://127.0.0.1:3030", description="NEAR JSON-RPC endpoint.")
    block_api_url: str = Field("http://127.0.0.1:3030/v0", description="neardata-style block API.")
    contract_id: str = Field("offshore.test.near", description="Account of the offshore contract.")
    allow_file_urls: bool = Field(False, description="Accept file:// code sources (dev and tests only).")


@cache
def get_settings() -> Settings:
    """The process-wide settings; an invalid value raises ConfigError naming the variable."""
    return load_settings()


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"invalid setting OFFSHORE_{field.upper()}: {first['msg']}") from None
