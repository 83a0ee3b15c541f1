"""`offshore stack up|status|down` (the embedded broker and Postgres) and `offshore topics create`."""

from __future__ import annotations

import argparse

from offshore.settings import Settings
from offshore.stack import LocalStack


def _stack(settings: Settings) -> LocalStack:
    return LocalStack(
        settings.state_dir, kafka_port=settings.stack_kafka_port, postgres_port=settings.stack_postgres_port
    )


def _stack_up(args: argparse.Namespace, settings: Settings) -> int:
    from streams import create_topics

    endpoints = _stack(settings).up()
    create_topics(endpoints.kafka_bootstrap)
    print(f"kafka     {endpoints.kafka_bootstrap}")
    print(f"postgres  {endpoints.postgres_dsn}")
    return 0


def _stack_status(args: argparse.Namespace, settings: Settings) -> int:
    status = _stack(settings).status()
    for name, state in status.items():
        print(f"{name:<9} {state}")
    return 0 if all(s == "healthy" for s in status.values()) else 1


def _stack_down(args: argparse.Namespace, settings: Settings) -> int:
    _stack(settings).down()
    print("stack stopped")
    return 0


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import kafka_bootstrap
    from streams import ALL_TOPICS, create_topics

    created = set(create_topics(kafka_bootstrap(settings)))
    for topic in ALL_TOPICS:
        print(f"{topic.name:<28} {'created' if topic.name in created else 'exists'}")
    return 0


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = commands.add_parser("stack", help="embedded Kafka-API broker and PostgreSQL").add_subparsers(
        dest="action", required=True
    )
    stack.add_parser("up", help="start (idempotent) and print endpoints").set_defaults(handler=_stack_up)
    stack.add_parser("status", help="probe each service").set_defaults(handler=_stack_status)
    stack.add_parser("down", help="stop everything, leaving no process").set_defaults(handler=_stack_down)

    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create missing topics (idempotent)").set_defaults(handler=_topics_create)
