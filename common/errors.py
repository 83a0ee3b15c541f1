"""The one root of every error a user of NEAR Offshore can meet.

Every component's own root derives from `OffshoreError` (`ConfigError`, `StackError`, `GoLiveError`
in offshore; `PipelineError` in streams and the projector; `SchemaError`; `IndexerError`;
`ExecutorError`; `DevnetError`), so the CLI maps exactly one class, in one place
(`offshore.cli.main`): one line `offshore: error: <message>` on stderr, exit code 2 - the way
httpx's `HTTPError` lets a caller catch everything httpx raises and nothing else. Bugs (anything
else) still show their traceback.

Messages are for the person at the terminal: they say what failed and what to do, and never carry
a secret (keys, passwords, API keys in URLs).
"""

from __future__ import annotations


class OffshoreError(Exception):
    """A failure the user can act on (bad input, a missing service, a refusal by the chain)."""
