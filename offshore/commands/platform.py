"""`offshore up` (the whole platform locally), `offshore request` (one request to it) and `offshore demo`."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from offshore.errors import ConfigError
from offshore.local import CLIENTS
from offshore.settings import Settings
from offshore.up import UP_DIR


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.up import run_up

    return run_up(settings, block_interval_s=args.block_interval)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.demo import run_demo

    run_demo(settings)
    return 0


def _request_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = commands.add_parser("request", help="send one request_execution and (by default) wait for its result")
    p.add_argument("--repo", required=True, help="git URL (https://..., or file://... on a dev platform)")
    p.add_argument("--commit", required=True, help="full 40-hex commit sha")
    p.add_argument("--target", default="wasm32-wasip1", choices=("wasm32-wasip1", "wasm", "python"))
    p.add_argument("--path", help="prebuilt .wasm path in the repo (--target wasm)")
    p.add_argument("--input", default="", help="input on stdin; @FILE reads a file")
    p.add_argument("--format", default="Text", choices=("Text", "Json", "Bytes"))
    p.add_argument("--max-instructions", type=int)
    p.add_argument("--max-memory-mb", type=int)
    p.add_argument("--max-seconds", type=int)
    p.add_argument("--secrets", help="sealed secrets from `offshore secrets encrypt`")
    p.add_argument("--account", default=CLIENTS[0], help="sender account (key from the credentials dir)")
    p.add_argument("--credentials-dir", type=Path, help="near-cli keys (default: the `offshore up` platform's)")
    p.add_argument("--no-wait", action="store_true", help="return once the request is on chain")
    return p


def _request(args: argparse.Namespace, settings: Settings) -> int:
    from offshore.client import OffshoreClient

    credentials = args.credentials_dir or settings.state_dir / UP_DIR / "credentials"
    key_file = credentials / settings.network / f"{args.account}.json"
    if not key_file.is_file():
        raise ConfigError(f"no key for {args.account} in {credentials} (is `offshore up` running?)")
    from offshore.keys import account_key

    secret = account_key(credentials, settings.network, args.account).secret_key_str
    try:
        body = Path(args.input[1:]).read_text() if args.input.startswith("@") else args.input
    except OSError as exc:
        raise ConfigError(f"--input {args.input}: {exc.strerror}") from None
    limits = {
        k: v
        for k, v in (
            ("max_instructions", args.max_instructions),
            ("max_memory_mb", args.max_memory_mb),
            ("max_execution_seconds", args.max_seconds),
        )
        if v is not None
    }

    async def main() -> int:
        async with OffshoreClient(
            rpc_url=settings.near_rpc_url,
            account_id=args.account,
            secret_key=secret,
            contract_id=settings.contract_id,
            block_api_url=settings.block_api_url or None,
        ) as client:
            started = time.monotonic()
            sub = await client.request(
                repo=args.repo, commit=args.commit, build_target=args.target, path=args.path, input_data=body,
                limits=limits, response_format=args.format, encrypted_secrets=args.secrets,
            )  # fmt: skip
            print(f"request {sub.request_id}  tx {sub.tx_hash}  deposit {sub.deposit} yoctoNEAR")
            if args.no_wait:
                return 0
            view = await client.wait(sub.request_id)
            output = await client.result(sub.tx_hash)
            print(f"status    {view['status']} after {time.monotonic() - started:.1f}s")
            print(f"output    {json.dumps(output) if output is not None else view.get('error')}")
            print(f"used      {view['resources_used']}")
            print(f"charged   {view['payment_charged']}  refunded {view['payment_refunded']} (yoctoNEAR)")
            return 0 if view["status"] == "completed" else 1

    return asyncio.run(main())


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("demo", help="run the end-to-end demo on the local stack").set_defaults(handler=_demo)
    up = commands.add_parser("up", help="run the whole platform locally until Ctrl-C")
    up.add_argument("--block-interval", type=float, default=0.5, help="devnet seconds per block")
    up.set_defaults(handler=_up, process=True)
    _request_parser(commands).set_defaults(handler=_request)
