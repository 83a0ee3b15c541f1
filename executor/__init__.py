"""Sandboxed WASI execution (wasmtime: fuel, memory cap, wall clock) and sandboxed, cached builds.

Run: `execute(wasm, input, limits=..., secrets=...)` or `await run_async(...)`, or an `Executor`.
Build: `compile_source(code_source, store=ArtifactStore(...), config=CompileConfig(...))`.
Example guests as git repos: `executor.examples.publish(name, root)`.
"""

from executor._compile import builder_id, compile_async, compile_source, find_cached
from executor._http import ReplayMismatch, parse_transcript, transcript_key, uses_http
from executor._httptypes import HttpConfig, HttpGrant
from executor._python import warm_python
from executor._runner import Executor, default_executor, execute, run_async
from executor._store import ArtifactStore, blob_relpath, ref_relpath
from executor._types import (
    BuildLimits,
    CodeSource,
    CompileConfig,
    CompileResult,
    Determinism,
    EngineConfig,
    ErrorKind,
    ExecutionResult,
    ExecutorConfig,
    Limits,
    StoreConfig,
    WasmCompileLimits,
)
from executor._wasmtime import CacheStats
from executor.errors import (
    ArtifactStoreError,
    BuildError,
    ExecutorError,
    FetchError,
    InvalidArtifactError,
    InvalidSourceError,
    SandboxError,
)

__all__ = [
    "ArtifactStore",
    "ArtifactStoreError",
    "BuildError",
    "BuildLimits",
    "CacheStats",
    "CodeSource",
    "CompileConfig",
    "CompileResult",
    "Determinism",
    "EngineConfig",
    "ErrorKind",
    "ExecutionResult",
    "Executor",
    "ExecutorConfig",
    "ExecutorError",
    "FetchError",
    "HttpConfig",
    "HttpGrant",
    "InvalidArtifactError",
    "InvalidSourceError",
    "Limits",
    "ReplayMismatch",
    "SandboxError",
    "StoreConfig",
    "WasmCompileLimits",
    "blob_relpath",
    "builder_id",
    "compile_async",
    "compile_source",
    "default_executor",
    "execute",
    "find_cached",
    "parse_transcript",
    "ref_relpath",
    "run_async",
    "transcript_key",
    "uses_http",
    "warm_python",
]
