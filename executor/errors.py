"""Exceptions raised by the executor package.

Guest misbehaviour (traps, limits, bad modules) is *data*: it comes back in an `ExecutionResult`
with an `ErrorKind`, never as an exception. Exceptions are for requests that cannot be served::

    ExecutorError (a common.errors.OffshoreError: the CLI prints it as one line)
    ├── InvalidSourceError      malformed code source: URL, commit, build target, path
    ├── FetchError              git could not fetch the repository at the commit
    ├── BuildError              the compiler failed or hit a sandbox limit (carries the capped log)
    ├── InvalidArtifactError    the build output is not a WASI preview-1 module with `_start`
    ├── ArtifactStoreError      the artifact store could not read or write
    └── SandboxError            the build sandbox itself could not be started
"""

from __future__ import annotations

from common.errors import OffshoreError


class ExecutorError(OffshoreError):
    """Root of every error this package raises."""


class InvalidSourceError(ExecutorError):
    """The code source is malformed or not allowed (scheme, host, path, commit, target)."""


class FetchError(ExecutorError):
    """Fetching the repository at the requested commit failed."""


class BuildError(ExecutorError):
    """The build failed; `log` holds the (capped) compiler output for the requester."""

    def __init__(self, message: str, *, log: str = "", timed_out: bool = False) -> None:
        super().__init__(message)
        self.log = log
        self.timed_out = timed_out


class InvalidArtifactError(ExecutorError):
    """The built or prebuilt file is not an acceptable WASI preview-1 program."""


class ArtifactStoreError(ExecutorError):
    """The content-addressed artifact store failed."""


class SandboxError(ExecutorError):
    """The build sandbox (bubblewrap, prlimit, cgroup) is unavailable or misconfigured."""
