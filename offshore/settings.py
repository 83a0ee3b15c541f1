"""One typed settings object, read from `OFFSHORE_*` env vars and `.env`.

Unset Kafka/Postgres endpoints mean "the embedded local stack" (`offshore stack up`); production sets
them to external services and the same code runs unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
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
    operator_id: str = Field("operator.test.near", description="Account that signs resolve_execution.")
    operator_keys: SecretStr = Field(SecretStr(""), description="Comma-separated ed25519 function-call keys.")
    keystore_master_key: SecretStr = Field(SecretStr(""), description="Hex master key of the secrets keystore.")
    block_api_key: SecretStr = Field(SecretStr(""), description="Bearer token for a hosted block API.")
    indexer_start_height: int | None = Field(None, ge=0, description="First height when no checkpoint exists.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port; 0 = off.")
    yield_timeout_blocks: int = Field(200, gt=0, description="The chain's yield timeout.")
    settle_margin_blocks: int = Field(10, ge=0, description="Blocks a resolve needs to land.")
    reconcile_after_blocks: int = Field(30, gt=0, description="Pending this long -> re-drive.")
    execute_concurrency: int = Field(2, gt=0)
    settle_concurrency: int = Field(4, gt=0)
    kafka_replication_factor: int = Field(1, gt=0, description="Replicas of topics the platform creates itself.")
    views_refresh_interval_s: float = Field(10.0, gt=0, description="Projector view refresh period.")
    max_output_bytes: int = Field(
        12 * 1024, gt=0, description="Guest stdout cap; the contract takes 16384 chars (base64 of 12 KiB)."
    )
    block_time_ms: int = Field(
        600, gt=0, description="Lower bound of the chain's block time; sizes every budget inside the yield window."
    )
    file_url_roots: str = Field(
        "", description="Comma-separated dirs file:// repos may live under; empty = <state_dir>/repos."
    )
    max_checkout_bytes: int = Field(256 * 1024 * 1024, gt=0, description="Byte quota of one repo checkout.")


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
