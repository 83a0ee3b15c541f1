"""Why a request failed, was skipped or was given up: one enum, so a typo is a NameError, not a new
metric label or a new string on chain.

The value is what goes on the wire and into metrics: `CompilationFailed.error_kind`,
`ExecutionFinished.error_kind` (besides `executor.ErrorKind`, a guest run's own reasons, and
`compile_<kind>` for a compile failure carried into execute), the prefix of the `error` a resolve
sends (`invalid_output: ...`), `offshore_request_failures_total{reason}` and
`SettlementSkipped.reason`.
"""

from __future__ import annotations

import enum

from schemas.request_view import SkipReason

__all__ = ["FailureReason", "SkipReason"]


class FailureReason(enum.StrEnum):
    # compile: the request's source cannot become a module (the requester pays the build time)
    INVALID_SOURCE = "invalid_source"
    FETCH_FAILED = "fetch_failed"
    BUILD_FAILED = "build_failed"
    BUILD_TIMEOUT = "build_timeout"
    INVALID_ARTIFACT = "invalid_artifact"
    # execute: the module cannot be run for this request
    ARTIFACT_MISSING = "artifact_missing"
    SECRETS_UNAVAILABLE = "secrets_unavailable"
    SECRETS_DENIED = "secrets_denied"  # the owner's sealed policy refuses this request
    # settle: the guest's output cannot be sent as it is, or the contract refused the resolve
    INVALID_OUTPUT = "invalid_output"
    OUTPUT_TOO_LARGE = "output_too_large"
    RESOLVE_REFUSED = "resolve_refused"
    # any stage: no time left in the yield window
    EXPIRED = "expired"
