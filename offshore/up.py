"""`offshore up`: the local platform for a developer, started, printed and supervised until Ctrl-C.

(`offshore request`, the CLI that sends one request to it, is `offshore.commands.platform`.)"""

from __future__ import annotations

import signal
import threading

from offshore.local import CHAIN_ID, CLIENTS, LocalPlatform
from offshore.settings import Settings

UP_DIR = "up"


def run_up(settings: Settings, *, block_interval_s: float) -> int:
    from urllib.parse import urlparse

    port = urlparse(settings.near_rpc_url).port or 3030  # where `offshore request` will look for the chain
    platform = LocalPlatform(
        settings.state_dir / UP_DIR,
        contract_id=settings.contract_id,
        block_interval_s=block_interval_s,
        devnet_port=port,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        info = platform.start(progress=True)
        print()
        print(f"NEAR JSON-RPC   {info.rpc_url}")
        print(f"block API       {info.block_api_url}")
        print(f"contract        {info.contract_id} (operator operator.test.near, owner owner.test.near)")
        print(f"clients         {', '.join(CLIENTS)} (keys in {info.credentials_dir / CHAIN_ID})")
        print(f"Kafka           {info.endpoints.kafka_bootstrap}")
        print(f"Postgres        {info.endpoints.postgres_dsn}")
        if info.keystore_url:
            print(f"keystore        {info.keystore_url} (offshore secrets encrypt --keystore {info.keystore_url} ...)")
        for name, url in info.metrics.items():
            print(f"metrics {name:<8}{url}")
        print(f"logs            {platform.state_dir / 'logs'}")
        print("\nrunning; Ctrl-C stops everything")
        platform.supervise(stop)
    finally:
        print("up: stopping ...")
        platform.stop()
        print("up: stopped")
    return 0
