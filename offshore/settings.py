"""One typed settings object, read from `OFFSHORE_*` env vars and `.env`.

Unset Kafka/Postgres endpoints mean "the embedded local stack" (`offshore stack up`); production sets
them to external services and the same code runs unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
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
    keystore_master_key: SecretStr = Field(SecretStr(""), description="Keystore master keys: HEX or ID:HEX,...")
    block_api_key: SecretStr = Field(SecretStr(""), description="fastnear API key, sent as ?apiKey=.")
    indexer_start_height: int | None = Field(None, ge=0, description="First height when no checkpoint exists.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port; 0 = off.")
    yield_timeout_blocks: int = Field(200, gt=0, description="The chain's yield timeout.")
    settle_margin_blocks: int = Field(10, ge=0, description="Blocks a resolve needs to land.")
    reconcile_after_blocks: int = Field(30, gt=0, description="Pending this long -> re-drive.")
    execute_concurrency: int = Field(2, gt=0)
    settle_concurrency: int = Field(128, gt=0)
    kafka_replication_factor: int | None = Field(
        None, gt=0, description="Replicas of topics the platform creates; unset = the profile's (1 local, 3 prod)."
    )
    views_refresh_interval_s: float = Field(10.0, gt=0, description="Projector view refresh period.")
    max_output_bytes: int = Field(
        12 * 1024, gt=0, description="Guest stdout cap; the contract takes 16384 chars (base64 of 12 KiB)."
    )
    kafka_profile: Literal["local", "production"] | None = Field(
        None, description="Kafka client timeouts and topic ownership; unset = local iff the broker is embedded."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field("PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field("SCRAM-SHA-512")
    kafka_sasl_username: str = Field("", description="SASL user (SASL_* protocols).")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (secret).")
    kafka_ssl_cafile: Path | None = Field(None, description="PEM CA bundle of the brokers (SSL/SASL_SSL).")
    metrics_host: str = Field("127.0.0.1", description="Address /metrics binds; pods set 0.0.0.0.")
    network: str = Field(
        "localnet",
        pattern="^(mainnet|testnet|localnet)$",
        description="Preset of RPC, block API, yield timeout, block time.",
    )
    block_time_s: float = Field(
        1.0, gt=0, description="Seconds per block (a lower bound: it sizes every budget in the yield window)."
    )
    operator_keys_file: Path | None = Field(None, description="Operator keys, one a line (settle; replaces KEYS).")
    signer_key: SecretStr = Field(
        SecretStr(""), description="Key of --account for `offshore contract` and `offshore operator`."
    )

    @model_validator(mode="before")
    @classmethod
    def _network_preset(cls, data: Any) -> Any:
        """OFFSHORE_NETWORK fills the chain settings that are not set explicitly (offshore/networks.py)."""
        from offshore.networks import preset_values

        return preset_values(data) if isinstance(data, dict) else data

    python_cache_dir: Path = Field(
        Path(".offshore/executor/python"), description="Compiled Python interpreter and unpacked Python guests."
    )
    file_url_roots: str = Field(
        "", description="Comma-separated dirs file:// repos may live under; empty = <state_dir>/repos."
    )
    max_checkout_bytes: int = Field(256 * 1024 * 1024, gt=0, description="Byte quota of one repo checkout.")
    keystore_master_key_file: Path | None = Field(
        None, description="Keystore master keys (`ID:HEX` per line, newest last); replaces KEYSTORE_MASTER_KEY."
    )
    keystore_host: str = Field("127.0.0.1", description="Address both keystore listeners bind; pods set 0.0.0.0.")
    keystore_port: int = Field(8750, ge=0, le=65535, description="Keystore public API (public keys, health).")
    keystore_decrypt_port: int = Field(8751, ge=0, le=65535, description="Keystore decrypt API (execute only).")
    keystore_url: str = Field("http://127.0.0.1:8751", description="Decrypt API the execute stage calls.")
    keystore_token: SecretStr = Field(SecretStr(""), description="Shared bearer token of the decrypt API (secret).")
    keystore_tls_cert: Path | None = Field(None, description="PEM certificate: the keystore's, or execute's client.")
    keystore_tls_key: Path | None = Field(None, description="PEM private key of keystore_tls_cert.")
    keystore_tls_ca: Path | None = Field(None, description="PEM CA that signs the peer's certificate (mTLS).")
    http_dev_mode: bool = Field(False, description="Guest HTTP: allow http:// and loopback (tests, demo only).")
    http_dns_server: str | None = Field(
        None, pattern=r"^[0-9a-fA-F.:\[\]]+:[0-9]+$", description="Guest HTTP resolver ip:port; unset = resolv.conf."
    )
    http_call_timeout_s: float = Field(
        10.0, gt=0, description="Guest HTTP: cap of one call (the run's clock caps all)."
    )
    http_max_response_bytes: int = Field(2 * 1024 * 1024, gt=0, description="Guest HTTP: cap of one response.")
    http_ca_file: Path | None = Field(None, description="Guest HTTP: PEM CA bundle; unset = certifi's.")
    http_io_workers: int = Field(16, gt=0, description="Guest HTTP: threads for runs that may wait on the web.")
    randomness_key: SecretStr = Field(
        SecretStr(""), description="Hex ed25519 seed of the platform randomness key (execute only; secret)."
    )
    settle_batch_window_s: float = Field(
        0.02, ge=0, le=0.05, description="Settle: how long outcomes wait for a shared call while calls are in flight."
    )
    settle_batch_max_items: int = Field(100, gt=0, description="Settle: outcomes per resolve_executions call at most.")


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
