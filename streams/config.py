"""What every stage process is configured with (built from `Settings` by `offshore.processes`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import executor
from streams.deadline import DeadlinePolicy


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    bootstrap: str
    data_dir: Path
    rpc_url: str
    contract_id: str
    operator_id: str = ""
    operator_keys: tuple[str, ...] = ()
    keystore_url: str = ""  # the keystore's decrypt API (keystore/README.md); "" = no secrets
    keystore_token: str = field(default="", repr=False)  # its shared bearer token (secret)
    keystore_tls: tuple[str | None, str | None, str | None] = (None, None, None)  # CA, client cert, key
    compile: executor.CompileConfig = field(default_factory=executor.CompileConfig)
    store: executor.StoreConfig = field(default_factory=executor.StoreConfig)
    executor: executor.ExecutorConfig = field(default_factory=executor.ExecutorConfig)
    deadline: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    compile_concurrency: int = 2
    execute_concurrency: int = 2
    settle_concurrency: int = 128  # outcomes in flight: what settle's batcher can put in one call
    reconcile_interval_s: float = 5.0
    reconcile_after_blocks: int = 30  # a request pending this long is re-driven
    app_prefix: str = "offshore"
    replication_factor: int = 1  # of the internal topics Faust creates (e.g. its leader topic)
    randomness_key: str | None = None  # hex ed25519 seed: execute signs each request (issue 15)
    settle_batch_window_s: float = 0.02
    settle_batch_max_items: int = 100
