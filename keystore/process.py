"""`offshore keystore`: settings in, both listeners running until SIGTERM/SIGINT.

The master keys come from `OFFSHORE_KEYSTORE_MASTER_KEY_FILE` or `OFFSHORE_KEYSTORE_MASTER_KEY`
(never argv, where `ps` would show them); the decrypt token from `OFFSHORE_KEYSTORE_TOKEN`.
"""

from __future__ import annotations

import asyncio
import signal
import socket

from keystore.audit import KafkaAudit
from keystore.chain import ChainReader
from keystore.crypto import MasterKeys, SecretsError
from keystore.service import Keystore, serve, server_tls
from offshore.errors import ConfigError
from offshore.settings import Settings


def master_keys(settings: Settings) -> MasterKeys:
    path = settings.keystore_master_key_file
    text = path.read_text() if path is not None else settings.keystore_master_key.get_secret_value()
    if not text.strip():
        raise ConfigError("the keystore needs OFFSHORE_KEYSTORE_MASTER_KEY_FILE or OFFSHORE_KEYSTORE_MASTER_KEY")
    try:
        return MasterKeys.parse(text)
    except SecretsError as exc:
        raise ConfigError(f"keystore master keys: {exc}") from None


def run_keystore_process(settings: Settings) -> int:
    from offshore.processes import _logging, _start_metrics, kafka_bootstrap
    from streams import create_topics

    _logging(settings)
    keys = master_keys(settings)
    token = settings.keystore_token.get_secret_value()
    if len(token) < 16:
        raise ConfigError("OFFSHORE_KEYSTORE_TOKEN (the decrypt API's shared token) must be at least 16 characters")
    tls_files = (settings.keystore_tls_cert, settings.keystore_tls_key, settings.keystore_tls_ca)
    if any(tls_files) and not all(tls_files):
        raise ConfigError(
            "mTLS needs OFFSHORE_KEYSTORE_TLS_CERT, OFFSHORE_KEYSTORE_TLS_KEY and OFFSHORE_KEYSTORE_TLS_CA"
        )
    tls = server_tls(*(str(f) for f in tls_files)) if all(tls_files) else None
    bootstrap = kafka_bootstrap(settings)
    create_topics(bootstrap, replication_factor=settings.kafka_replication_factor)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        chain = ChainReader(settings.near_rpc_url, settings.contract_id)
        audit = KafkaAudit(bootstrap)
        keystore = Keystore(keys, chain, audit, token=token, producer=f"keystore@{socket.gethostname()}")

        def ready(public: int, decrypt: int) -> None:
            print(
                f"keystore: public API http://{settings.keystore_host}:{public} "
                f"decrypt API {'https' if tls else 'http'}://{settings.keystore_host}:{decrypt} "
                f"keys {', '.join(keys.ids)} (newest {keys.newest})",
                flush=True,
            )
            _start_metrics(settings)  # /metrics answering = both listeners bound (the readiness signal)

        try:
            await serve(
                keystore,
                host=settings.keystore_host,
                public_port=settings.keystore_port,
                decrypt_port=settings.keystore_decrypt_port,
                tls=tls,
                stop=stop,
                on_ready=ready,
            )
        finally:
            await chain.close()
            audit.close()

    asyncio.run(main())
    return 0
