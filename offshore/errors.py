"""Errors of the composition root. The CLI prints any `OffshoreError` as one line, never a traceback.

OffshoreError (common.errors: the root of every component's errors)
 +-- ConfigError   an OFFSHORE_* setting is invalid
 +-- StackError    a local service could not start, stop or be reached
"""

from __future__ import annotations

from common.errors import OffshoreError

__all__ = ["ConfigError", "OffshoreError", "StackError"]


class ConfigError(OffshoreError):
    pass


class StackError(OffshoreError):
    pass
