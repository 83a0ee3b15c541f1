"""Errors of the schemas package.

SchemaError (a common.errors.OffshoreError)
 +-- UnknownSchemaError   the payload names a writer schema this process does not know
 +-- EncodeError          an event does not fit its schema
 +-- DecodeError          bytes are not a valid single-object encoded event
"""

from __future__ import annotations

from common.errors import OffshoreError


class SchemaError(OffshoreError):
    """Root of every error raised by `schemas`; a consumer dead-letters the message on it."""


class UnknownSchemaError(SchemaError):
    pass


class EncodeError(SchemaError):
    pass


class DecodeError(SchemaError):
    pass
