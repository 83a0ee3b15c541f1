"""Event schemas and their Avro codec. Agents use `encode`/`decode`; nobody else imports fastavro."""

from schemas.codec import Codec, decode, default_codec, encode
from schemas.errors import DecodeError, EncodeError, SchemaError, UnknownSchemaError
from schemas.events import (
    EVENT_TYPES,
    CodeSource,
    CompilationFailed,
    DeadLetter,
    Event,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFinished,
    ExecutionRequested,
    RequestExpired,
    ResolutionSubmitted,
    ResourceLimits,
    ResourcesUsed,
    SecretsAccessed,
    SettlementSkipped,
    WasmCompiled,
)

__all__ = [
    "EVENT_TYPES",
    "CodeSource",
    "Codec",
    "CompilationFailed",
    "DeadLetter",
    "DecodeError",
    "EncodeError",
    "Event",
    "ExecutionCancelled",
    "ExecutionCompleted",
    "ExecutionFinished",
    "ExecutionRequested",
    "RequestExpired",
    "ResolutionSubmitted",
    "ResourceLimits",
    "ResourcesUsed",
    "SchemaError",
    "SecretsAccessed",
    "SettlementSkipped",
    "UnknownSchemaError",
    "WasmCompiled",
    "decode",
    "default_codec",
    "encode",
]
