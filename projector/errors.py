"""Errors of the Postgres projection.

ProjectorError (a streams.PipelineError)
 +-- DatabaseError        Postgres could not be reached or refused a statement (psycopg errors, translated)
 +-- MigrationError       a migration failed, or an applied migration file was edited afterwards
 +-- NotMigratedError     the database lacks migrations this code needs: run `offshore db migrate`
"""

from __future__ import annotations

from streams.errors import PipelineError


class ProjectorError(PipelineError):
    """Root of every error this package raises."""


class DatabaseError(ProjectorError):
    pass


class MigrationError(ProjectorError):
    pass


class NotMigratedError(ProjectorError):
    pass
