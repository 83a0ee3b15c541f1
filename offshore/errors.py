"""Errors of the composition root. The CLI prints any `OffshoreError` as one line, never a traceback.

OffshoreError
 +-- ConfigError   an OFFSHORE_* setting is invalid
 +-- StackError    a local service could not start, stop or be reached
"""

from __future__ import annotations


class OffshoreError(Exception):
    pass


class ConfigError(OffshoreError):
    pass


class StackError(OffshoreError):
    pass
