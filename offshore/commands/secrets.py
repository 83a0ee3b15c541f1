"""`offshore secrets encrypt`: seal NAME=VALUE pairs for one repo and sender."""

from __future__ import annotations

import argparse
import sys

from offshore.errors import ConfigError
from offshore.settings import Settings

PUBLIC_KEY_BYTES = 32  # X25519


def _secrets_encrypt(args: argparse.Namespace, settings: Settings) -> int:
    from streams.keystore import Keystore, encrypt_secrets

    items = sys.stdin.read().splitlines() if args.pairs == ["-"] else args.pairs  # "-": keep values off argv
    items = [line for line in items if line.strip()]
    pairs = dict(item.split("=", 1) for item in items if "=" in item)
    if not pairs or len(pairs) != len(items):
        raise ConfigError("secrets are NAME=VALUE pairs")
    if bool(args.commit) == bool(args.any_commit):
        raise ConfigError("give --commit SHA (the secrets open for that commit only) or --any-commit")
    if args.public_key:
        try:
            public = bytes.fromhex(args.public_key)
        except ValueError:
            public = b""
        if len(public) != PUBLIC_KEY_BYTES:
            raise ConfigError("--public-key must be the keystore's X25519 public key: 64 hex characters")
    else:
        master = settings.keystore_master_key.get_secret_value()
        if not master:
            raise ConfigError("give --public-key, or set OFFSHORE_KEYSTORE_MASTER_KEY (dev keystore)")
        try:
            public = Keystore.from_hex(master).public_key(args.repo, args.owner)
        except ValueError:  # the message could quote the key: never shown
            raise ConfigError("OFFSHORE_KEYSTORE_MASTER_KEY is not a hex key of at least 32 bytes") from None
    print(encrypt_secrets(public, args.repo, args.owner, pairs, commit=args.commit, any_commit=args.any_commit))
    return 0


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
