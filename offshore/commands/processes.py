"""The production processes: `offshore compile|execute|settle|indexer|project`, and `offshore devnet`
(registered here for its help line; `offshore.cli.main` hands its arguments to the devnet's parser)."""

from __future__ import annotations

import argparse

from offshore.settings import Settings

STAGE_HELP = (("compile", "build sources to WASM"), ("execute", "run WASM"), ("settle", "resolve on chain"))


def _stage(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_stage

    return run_stage(args.command, settings)


def _indexer(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_indexer_process

    return run_indexer_process(settings, from_height=args.from_height, to_height=args.to_height)


def _project(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.processes import run_projector_process

    return run_projector_process(settings)


def run_devnet(args: argparse.Namespace, settings: Settings) -> int:
    from devnet.__main__ import main as devnet_main

    return devnet_main(args.devnet_args, prog="offshore devnet", credentials_dir=settings.state_dir / "credentials")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for stage, text in STAGE_HELP:
        commands.add_parser(stage, help=f"run the {stage} stage ({text})").set_defaults(handler=_stage, process=True)
    indexer = commands.add_parser("indexer", help="follow final blocks and publish contract events")
    indexer.add_argument("--from-height", type=int, help="start here when there is no checkpoint")
    indexer.add_argument("--to-height", type=int, help="backfill up to this height (with progress), then exit")
    indexer.set_defaults(handler=_indexer, process=True)
    project = commands.add_parser("project", help="project every topic into Postgres")
    project.set_defaults(handler=_project, process=True)
    commands.add_parser("devnet", help="run the local NEAR-compatible chain (see `offshore devnet --help`)")
