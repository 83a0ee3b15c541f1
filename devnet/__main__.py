"""`python -m devnet`: run a devnet in the foreground (for subprocess tests and manual use).

The `offshore devnet` CLI is the documented entry point; this one exists so tests and other components
can start a devnet as a separate process without the rest of the project's CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from devnet.config import ContractDeployment, DevnetConfig
from devnet.service import Devnet


def _parse(argv: list[str]) -> DevnetConfig:
    p = argparse.ArgumentParser(prog="python -m devnet", description="Run a local NEAR-compatible devnet.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3030)
    p.add_argument("--block-interval", type=float, default=1.0, help="seconds between blocks")
    p.add_argument("--yield-timeout-blocks", type=int, default=200)
    p.add_argument("--chain-id", default="localnet")
    p.add_argument("--credentials-dir", type=Path)
    p.add_argument("--state-file", type=Path)
    p.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="ACCOUNT=WASM[:INIT_METHOD]",
        help="deploy a contract at genesis (repeatable)",
    )
    a = p.parse_args(argv)
    deploy = []
    for spec in a.deploy:
        account, _, rest = spec.partition("=")
        path, _, init = rest.partition(":")
        if not account or not path:
            p.error(f"--deploy expects ACCOUNT=WASM[:INIT_METHOD], got {spec!r}")
        deploy.append(ContractDeployment(account_id=account, wasm_path=Path(path), init_method=init or None))
    return DevnetConfig(
        host=a.host,
        port=a.port,
        chain_id=a.chain_id,
        block_interval_s=a.block_interval,
        yield_timeout_blocks=a.yield_timeout_blocks,
        credentials_dir=a.credentials_dir,
        state_file=a.state_file,
        deploy=tuple(deploy),
    )


async def _run(config: DevnetConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Devnet(config) as devnet:
        print(f"devnet ready rpc={devnet.rpc_url} head={devnet.head_height}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _parse(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(config))


if __name__ == "__main__":
    main()
