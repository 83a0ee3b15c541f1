"""`python -m devnet` (also `offshore devnet`): run a devnet in the foreground until SIGINT/SIGTERM.

The one command-line front end of the devnet: `offshore devnet` passes its arguments here, and tests
start it as a subprocess (`devnet.testing.DevnetProcess`) without the rest of the project's CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from devnet.config import ContractDeployment, DevnetConfig, GenesisAccount
from devnet.service import Devnet


def parse(argv: list[str], *, prog: str = "python -m devnet", credentials_dir: Path | None = None) -> DevnetConfig:
    p = argparse.ArgumentParser(prog=prog, description="Run a local NEAR-compatible devnet.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3030, help="JSON-RPC and /v0/ block API port (NEAR localnet's)")
    p.add_argument("--block-interval", type=float, default=1.0, help="seconds between blocks")
    p.add_argument("--yield-timeout-blocks", type=int, default=200)
    p.add_argument("--chain-id", default="localnet")
    p.add_argument("--credentials-dir", type=Path, default=credentials_dir, help="near-cli style key files")
    p.add_argument("--state-file", type=Path, help="persist the chain here so a restart continues it")
    p.add_argument("--account", action="append", default=[], metavar="ACCOUNT", help="genesis account (repeatable)")
    p.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="ACCOUNT=WASM[:INIT_METHOD[:INIT_ARGS_JSON]]",
        help="deploy a contract at genesis and optionally call its init method (repeatable)",
    )
    p.add_argument("--rpc-error-rate", type=float, default=0.0, help="fault injection: share of RPCs failing")
    p.add_argument("--rpc-latency", type=float, default=0.0, help="fault injection: seconds added to each RPC")
    p.add_argument("--final-lag-blocks", type=int, default=2, help="the final block lags the head by this (NEAR: 2)")
    p.add_argument("--history-blocks", type=int, default=256, help="queries answer from this many past blocks")
    a = p.parse_args(argv)
    deploy = []
    for spec in a.deploy:
        account, _, rest = spec.partition("=")
        parts = rest.split(":", 2)
        if not account or not parts[0]:
            p.error(f"--deploy expects ACCOUNT=WASM[:INIT_METHOD[:INIT_ARGS_JSON]], got {spec!r}")
        init_args = parts[2] if len(parts) > 2 else "{}"
        try:
            json.loads(init_args)
        except ValueError:
            p.error(f"--deploy init args are not JSON: {init_args!r}")
        deploy.append(
            ContractDeployment(
                account_id=account,
                wasm_path=Path(parts[0]),
                init_method=(parts[1] if len(parts) > 1 else "") or None,
                init_args=init_args.encode(),
            )
        )
    return DevnetConfig(
        host=a.host,
        port=a.port,
        chain_id=a.chain_id,
        block_interval_s=a.block_interval,
        yield_timeout_blocks=a.yield_timeout_blocks,
        credentials_dir=a.credentials_dir,
        state_file=a.state_file,
        genesis_accounts=tuple(GenesisAccount(account_id=name) for name in a.account),
        deploy=tuple(deploy),
        rpc_error_rate=a.rpc_error_rate,
        rpc_latency_s=a.rpc_latency,
        final_lag_blocks=a.final_lag_blocks,
        history_blocks=a.history_blocks,
    )


async def _run(config: DevnetConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Devnet(config) as devnet:
        print(f"devnet ready rpc={devnet.rpc_url} blocks={devnet.block_api_url} head={devnet.head_height}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None, *, prog: str = "python -m devnet", credentials_dir: Path | None = None) -> int:
    config = parse(sys.argv[1:] if argv is None else argv, prog=prog, credentials_dir=credentials_dir)
    for deployment in config.deploy:
        if not deployment.wasm_path.is_file():
            print(f"{prog}: error: --deploy: no such contract file {deployment.wasm_path}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The VM runs contracts on a worker thread: wasm releases the GIL in each ctypes call, so the
    # event loop gets it then. Forced switches every 5 ms (Python's default) only added thrashing:
    # at 25 requests/s a `/last_block/final/headers` took 103 ms p50 at 5 ms, 260 ms at 0.5 ms and
    # 41 ms at 50 ms; the indexer's final -> published hop went from 395 to 185 ms (bench/README.md).
    sys.setswitchinterval(0.05)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
