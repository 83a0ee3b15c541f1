"""`offshore db migrate|refresh`: the Postgres projection's schema and views."""

from __future__ import annotations

import argparse

from offshore.settings import Settings


def _db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import postgres_dsn
    from projector import migrate

    applied = migrate(postgres_dsn(settings))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def _db_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import postgres_dsn
    from projector import refresh_views

    refresh_views(postgres_dsn(settings))
    print("views refreshed")
    return 0


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the Postgres projection").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply pending migrations (idempotent)").set_defaults(handler=_db_migrate)
    db.add_parser("refresh", help="refresh the materialised views now").set_defaults(handler=_db_refresh)
