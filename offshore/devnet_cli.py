"""`offshore devnet`: the local NEAR-compatible chain as a foreground process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from offshore.errors import ConfigError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = commands.add_parser("devnet", help="run the local NEAR-compatible chain (JSON-RPC + /v0/ block API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3030, help="JSON-RPC and block API port (NEAR localnet's 3030)")
    p.add_argument("--block-interval", type=float, default=1.0, help="seconds between blocks")
    p.add_argument("--yield-timeout-blocks", type=int, default=200)
    p.add_argument("--credentials-dir", type=Path, help="near-cli style key files (default: <state>/credentials)")
    p.add_argument("--state-file", type=Path, help="persist the chain here so a restart continues it")
    p.add_argument("--account", action="append", default=[], metavar="ACCOUNT", help="genesis account (repeatable)")
    p.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="ACCOUNT=WASM[:INIT_METHOD[:INIT_ARGS_JSON]]",
        help="deploy a contract at genesis and optionally call its init method (repeatable)",
    )
    p.add_argument("--rpc-error-rate", type=float, default=0.0, help="fault injection: RPC errors")
    p.add_argument("--rpc-latency", type=float, default=0.0, help="fault injection: added RPC latency (s)")
    return p


def run(args: argparse.Namespace, state_dir: Path) -> int:
    from devnet import ContractDeployment, Devnet, DevnetConfig, GenesisAccount

    deploy = []
    for spec in args.deploy:
        account, _, rest = spec.partition("=")
        parts = rest.split(":", 2)
        if not account or not parts[0]:
            raise ConfigError(f"--deploy expects ACCOUNT=WASM[:INIT_METHOD[:INIT_ARGS_JSON]], got {spec!r}")
        init_args = parts[2] if len(parts) > 2 else "{}"
        try:
            json.loads(init_args)
        except ValueError:
            raise ConfigError(f"--deploy init args are not JSON: {init_args!r}") from None
        wasm = Path(parts[0])
        if not wasm.is_file():
            raise ConfigError(f"--deploy: no such contract file {wasm}")
        deploy.append(
            ContractDeployment(
                account_id=account,
                wasm_path=wasm,
                init_method=parts[1] if len(parts) > 1 and parts[1] else None,
                init_args=init_args.encode(),
            )
        )
    config = DevnetConfig(
        host=args.host,
        port=args.port,
        block_interval_s=args.block_interval,
        yield_timeout_blocks=args.yield_timeout_blocks,
        credentials_dir=args.credentials_dir or state_dir / "credentials",
        state_file=args.state_file,
        genesis_accounts=tuple(GenesisAccount(account_id=a) for a in args.account),
        deploy=tuple(deploy),
        rpc_error_rate=args.rpc_error_rate,
        rpc_latency_s=args.rpc_latency,
    )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Devnet(config) as devnet:
            print(
                f"devnet ready rpc={devnet.rpc_url} blocks={devnet.block_api_url} head={devnet.head_height}", flush=True
            )
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
