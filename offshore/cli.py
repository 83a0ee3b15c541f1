"""The `offshore` command: a thin layer over the public functions of each component.

Every failure the user can fix is printed as one line (`offshore: error: ...`) with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from offshore.errors import ConfigError, OffshoreError
from offshore.settings import Settings, get_settings
from offshore.stack import LocalStack
from projector import ProjectorError
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


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import kafka_bootstrap
    from streams import ALL_TOPICS, create_topics

    created = set(create_topics(kafka_bootstrap(settings)))
    for topic in ALL_TOPICS:
        print(f"{topic.name:<28} {'created' if topic.name in created else 'exists'}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.demo import run_demo

    run_demo(settings)
    return 0


def _stage(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_stage

    return run_stage(args.command, settings)


def _indexer(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_indexer_process

    return run_indexer_process(settings, from_height=args.from_height, to_height=args.to_height)


def _secrets_encrypt(args: argparse.Namespace, settings: Settings) -> int:
    from streams.keystore import Keystore, encrypt_secrets

    items = sys.stdin.read().splitlines() if args.pairs == ["-"] else args.pairs  # "-": keep values off argv
    items = [line for line in items if line.strip()]
    pairs = dict(item.split("=", 1) for item in items if "=" in item)
    if not pairs or len(pairs) != len(items):
        raise ConfigError("secrets are NAME=VALUE pairs")
    if args.public_key:
        public = bytes.fromhex(args.public_key)
    else:
        master = settings.keystore_master_key.get_secret_value()
        if not master:
            raise ConfigError("give --public-key, or set OFFSHORE_KEYSTORE_MASTER_KEY (dev keystore)")
        public = Keystore.from_hex(master).public_key(args.repo, args.owner)
    if bool(args.commit) == bool(args.any_commit):
        raise ConfigError("give --commit SHA (the secrets open for that commit only) or --any-commit")
    print(encrypt_secrets(public, args.repo, args.owner, pairs, commit=args.commit, any_commit=args.any_commit))
    return 0


def _devnet(args: argparse.Namespace, settings: Settings) -> int:
    from devnet.__main__ import main as devnet_main

    return devnet_main(args.devnet_args, prog="offshore devnet", credentials_dir=settings.state_dir / "credentials")


def _project(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_projector_process

    return run_projector_process(settings)


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


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.up import run_up

    return run_up(settings, block_interval_s=args.block_interval)


def _request(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.up import run_request

    return run_request(args, settings)


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
    up = commands.add_parser("up", help="run the whole platform locally until Ctrl-C")
    up.add_argument("--block-interval", type=float, default=0.5, help="devnet seconds per block")
    up.set_defaults(handler=_up)
    from offshore.up import add_request_parser

    add_request_parser(commands).set_defaults(handler=_request)

    for stage, text in (("compile", "build sources to WASM"), ("execute", "run WASM"), ("settle", "resolve on chain")):
        commands.add_parser(stage, help=f"run the {stage} stage ({text})").set_defaults(handler=_stage)
    indexer = commands.add_parser("indexer", help="follow final blocks and publish contract events")
    indexer.add_argument("--from-height", type=int, help="start here when there is no checkpoint")
    indexer.add_argument("--to-height", type=int, help="backfill up to this height (with progress), then exit")
    indexer.set_defaults(handler=_indexer)

    commands.add_parser("project", help="project every topic into Postgres").set_defaults(handler=_project)
    db = commands.add_parser("db", help="the Postgres projection").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply pending migrations (idempotent)").set_defaults(handler=_db_migrate)
    db.add_parser("refresh", help="refresh the materialised views now").set_defaults(handler=_db_refresh)

    commands.add_parser("devnet", help="run the local NEAR-compatible chain (see `offshore devnet --help`)")

    secrets = commands.add_parser("secrets", help="request secrets").add_subparsers(dest="action", required=True)
    encrypt = secrets.add_parser("encrypt", help="seal NAME=VALUE pairs for one repo and sender")
    encrypt.add_argument("--repo", required=True)
    encrypt.add_argument("--owner", required=True, help="the account that sends request_execution")
    encrypt.add_argument("--public-key", help="recipient key (hex) from the keystore")
    encrypt.add_argument("--commit", help="the 40-hex commit the secrets are for (default binding: only this commit)")
    encrypt.add_argument(
        "--any-commit", action="store_true", help="let every commit of the repo open them (anyone who can push can)"
    )
    encrypt.add_argument("pairs", nargs="+", metavar="NAME=VALUE", help="or - to read NAME=VALUE lines from stdin")
    encrypt.set_defaults(handler=_secrets_encrypt)
    from offshore.golive import add_parsers as add_golive_parsers

    add_golive_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["devnet"]:  # the devnet parses its own options (the same as `python -m devnet`)
        args = argparse.Namespace(devnet_args=words[1:], handler=_devnet)
    else:
        args = build_parser().parse_args(words)
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except (OffshoreError, PipelineError, SchemaError, ProjectorError) as exc:
        print(f"offshore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("offshore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
