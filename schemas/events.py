"""Events of the platform, one frozen dataclass per Avro record in `schemas/avro/<Name>/`.

Past-tense names, one per fact. Every event carries `event_id` (deterministic, so a replay is a
duplicate that consumers drop), `request_id` (the Kafka key), `occurred_at` and `producer`.
Downstream events carry the originating `ExecutionRequested` forward so every stage is stateless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class CodeSource:
    repo: str
    commit: str
    build_target: str
    path: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResourceLimits:
    max_instructions: int
    max_memory_mb: int
    max_execution_seconds: int


@dataclass(frozen=True, kw_only=True)
class ResourcesUsed:
    instructions: int = 0
    time_ms: int = 0
    compile_time_ms: int = 0


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str
    request_id: str
    occurred_at: datetime
    producer: str


@dataclass(frozen=True, kw_only=True)
class ExecutionRequested(Event):
    sender_id: str
    code_source: CodeSource
    resource_limits: ResourceLimits
    input_data: str
    encrypted_secrets: str | None = None
    response_format: str
    payment: str
    data_id: str
    block_height: int
    block_hash: str
    receipt_id: str
    timestamp_ns: int


@dataclass(frozen=True, kw_only=True)
class WasmCompiled(Event):
    request: ExecutionRequested
    source_key: str
    wasm_sha256: str
    wasm_size: int
    compile_time_ms: int
    cache_hit: bool
    builder_id: str = ""  # v2 (issue 15)


@dataclass(frozen=True, kw_only=True)
class CompilationFailed(Event):
    request: ExecutionRequested
    source_key: str
    error_kind: str
    error: str
    build_log: str
    compile_time_ms: int


@dataclass(frozen=True, kw_only=True)
class ExecutionFinished(Event):
    request: ExecutionRequested
    wasm_sha256: str | None
    success: bool
    output: bytes
    error_kind: str | None = None
    error: str | None = None
    exit_code: int | None = None
    resources_used: ResourcesUsed
    # v2: commitment inputs (issue 15) and the recorded-I/O slot (outbound HTTP), defaults = none
    builder_id: str = ""
    engine_id: str = ""
    randomness_proof: str = ""
    io_sha256: str = ""
    http_calls: int = 0
    http_bytes: int = 0


@dataclass(frozen=True, kw_only=True)
class ResolutionSubmitted(Event):
    tx_hash: str
    success: bool
    resources_used: ResourcesUsed
    signer_public_key: str
    attempts: int
    sent_at_height: int


@dataclass(frozen=True, kw_only=True)
class SettlementSkipped(Event):
    reason: str
    chain_status: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestExpired(Event):
    stage: str
    deadline_height: int
    observed_height: int


@dataclass(frozen=True, kw_only=True)
class ExecutionCompleted(Event):
    sender_id: str
    success: bool
    error: str | None = None
    resources_used: ResourcesUsed
    payment_charged: str
    payment_refunded: str
    block_height: int
    block_hash: str
    receipt_id: str
    timestamp_ns: int
    # v2: the result commitment (issue 15; contract/README.md "Result commitment"), defaults = none
    commitment_version: int = 0
    wasm_sha256: str = ""
    builder_id: str = ""
    engine_id: str = ""
    input_sha256: str = ""
    output_sha256: str = ""
    delivered_sha256: str = ""
    randomness_proof: str = ""
    randomness_checked: bool = False
    io_sha256: str = ""
    http_calls: int = 0
    http_bytes: int = 0


@dataclass(frozen=True, kw_only=True)
class ExecutionCancelled(Event):
    reason: str
    refunded: str
    block_height: int
    block_hash: str
    receipt_id: str
    timestamp_ns: int


@dataclass(frozen=True, kw_only=True)
class DeadLetter(Event):
    """A message a stage could not process. `request_id` is "" when it could not be read."""

    stage: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None = None
    payload: bytes
    error_type: str
    error: str


@dataclass(frozen=True, kw_only=True)
class SecretsAccessed(Event):
    """The keystore's audit record of one decision on a request's secrets; never their values."""

    caller: str
    granted: bool
    reason: str
    owner_id: str | None = None
    sender_id: str | None = None
    repo: str | None = None
    commit: str | None = None
    key_id: str | None = None
    secret_names: list[str] = field(default_factory=list)
    observed_height: int | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ExecutionRequested,
        WasmCompiled,
        CompilationFailed,
        ExecutionFinished,
        ResolutionSubmitted,
        SettlementSkipped,
        RequestExpired,
        ExecutionCompleted,
        ExecutionCancelled,
        DeadLetter,
        SecretsAccessed,
    )
}
