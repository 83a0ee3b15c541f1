"""Postgres projection: every topic into an append-only event store, then materialised views.

The chain is the ledger, Kafka the log of work; Postgres is a projection that can be dropped and
rebuilt from the topics at any time (docs/design.md §7).
"""

from projector._direct import write_events
from projector._loop import (
    DEFAULT_GROUP_ID,
    Projector,
    ProjectorStats,
    run_projector,
    run_projector_async,
)
from projector._postgres import (
    VIEWS,
    billing_rows,
    load_migrations,
    migrate,
    pending_migrations,
    refresh_views,
    view_checksums,
)
from projector._render import format_billing, format_near, render_billing
from projector.core import EventRow, Position, to_row
from projector.errors import DatabaseError, MigrationError, NotMigratedError, ProjectorError

__all__ = [
    "DEFAULT_GROUP_ID",
    "VIEWS",
    "DatabaseError",
    "EventRow",
    "MigrationError",
    "NotMigratedError",
    "Position",
    "Projector",
    "ProjectorError",
    "ProjectorStats",
    "billing_rows",
    "format_billing",
    "format_near",
    "load_migrations",
    "migrate",
    "pending_migrations",
    "refresh_views",
    "render_billing",
    "run_projector",
    "run_projector_async",
    "to_row",
    "view_checksums",
    "write_events",
]
