"""The `offshore` command: a thin layer over the public functions of each component.

Every failure the user can fix is printed as one line (`offshore: error: ...`) with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from offshore.errors import OffshoreError
from offshore.settings import Settings, get_settings
from offshore.stack import LocalStack
from schemas import SchemaError
from streams import PipelineError

Handler = Callable[[argparse.Namespace, Settings], int]


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


def _kafka_bootstrap(settings: Settings) -> str:
    return settings.kafka_bootstrap or _stack(settings).endpoints().kafka_bootstrap


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from streams import ALL_TOPICS, create_topics

    created = set(create_topics(_kafka_bootstrap(settings)))
    for topic in ALL_TOPICS:
        print(f"{topic.name:<28} {'created' if topic.name in created else 'exists'}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.demo import run_demo

    run_demo(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offshore", description="NEAR Offshore: off-chain computation for NEAR.")
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="embedded Kafka-API broker and PostgreSQL").add_subparsers(
        dest="action", required=True
    )
    stack.add_parser("up", help="start (idempotent) and print endpoints").set_defaults(handler=_stack_up)
    stack.add_parser("status", help="probe each service").set_defaults(handler=_stack_status)
    stack.add_parser("down", help="stop everything, leaving no process").set_defaults(handler=_stack_down)

    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create missing topics (idempotent)").set_defaults(handler=_topics_create)

    commands.add_parser("demo", help="run the end-to-end demo on the local stack").set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except (OffshoreError, PipelineError, SchemaError) as exc:
        print(f"offshore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("offshore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
