"""`offshore keystore` (the service) and `offshore secrets pubkey|encrypt` (what a dApp developer runs).

A developer needs only this CLI and the keystore's public URL: `pubkey` shows the recipient key and
its fingerprint (compare it with the one the operator publishes), `encrypt` fetches the key, checks
the fingerprint (and the pinned one, with --fingerprint) and seals NAME=VALUE pairs under the
owner's policy. Values are read from stdin with `-`, so they stay off argv and shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from offshore.errors import ConfigError
from offshore.settings import Settings

DEFAULT_KEYSTORE = "http://127.0.0.1:8750"


def _keystore(args: argparse.Namespace, settings: Settings) -> int:
    from keystore.process import run_keystore_process

    return run_keystore_process(settings)


def _commit(args: argparse.Namespace, *, required: bool) -> str | None:
    if args.commit and args.any_commit:
        raise ConfigError("give --commit SHA or --any-commit, not both")
    if required and not args.commit and not args.any_commit:
        raise ConfigError("give --commit SHA (the secrets open for that commit only) or --any-commit")
    return None if args.any_commit or not args.commit else args.commit


def _fetch(args: argparse.Namespace, commit: str | None):  # type: ignore[no-untyped-def]
    from keystore import KeystoreUnavailable, SecretsError, fetch_public_key

    try:
        return asyncio.run(
            fetch_public_key(args.keystore, args.repo, args.owner, commit=commit, expected_fingerprint=args.fingerprint)
        )
    except (KeystoreUnavailable, SecretsError) as exc:
        raise ConfigError(str(exc)) from None


def _pubkey(args: argparse.Namespace, settings: Settings) -> int:
    key = _fetch(args, _commit(args, required=False))
    print(f"repo         {key.repo}")
    print(f"owner        {key.owner}")
    print(f"commit       {key.commit}")
    print(f"key id       {key.key_id}")
    print(f"public key   {key.public_key.hex()}")
    print(f"fingerprint  {key.fingerprint}")
    return 0


def _encrypt(args: argparse.Namespace, settings: Settings) -> int:
    from keystore import SecretsError

    items = sys.stdin.read().splitlines() if args.pairs == ["-"] else args.pairs  # "-": keep values off argv
    items = [line for line in items if line.strip()]
    pairs = dict(item.split("=", 1) for item in items if "=" in item)
    if not pairs or len(pairs) != len(items):
        raise ConfigError("secrets are NAME=VALUE pairs")
    key = _fetch(args, _commit(args, required=True))
    try:
        print(key.seal(pairs, senders=tuple(args.sender or ()), expires_at_height=args.expires_at_height))
    except SecretsError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keystore", default=DEFAULT_KEYSTORE, metavar="URL", help="the keystore's public API")
    p.add_argument("--repo", required=True, help="git URL of the code that will read the secrets")
    p.add_argument("--owner", required=True, help="the account that owns the secrets (by default the only sender)")
    p.add_argument("--commit", help="the 40-hex commit the secrets are for (only this commit opens them)")
    p.add_argument(
        "--any-commit", action="store_true", help="every commit of the repo opens them (anyone who can push)"
    )
    p.add_argument("--fingerprint", help="refuse unless the keystore serves exactly this fingerprint")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`offshore keystore` and `offshore secrets ...` (registered by offshore/cli.py)."""
    commands.add_parser("keystore", help="run the keystore service (the only holder of the master keys)").set_defaults(
        handler=_keystore, process=True
    )
    secrets = commands.add_parser("secrets", help="request secrets").add_subparsers(dest="action", required=True)
    pubkey = secrets.add_parser("pubkey", help="show the recipient key and fingerprint for a repo and owner")
    _key_options(pubkey)
    pubkey.set_defaults(handler=_pubkey)
    encrypt = secrets.add_parser("encrypt", help="seal NAME=VALUE pairs with the keystore's key, under a policy")
    _key_options(encrypt)
    encrypt.add_argument(
        "--sender",
        action="append",
        metavar="ACCOUNT",
        help="an account whose requests may open them (repeat for an allow-list; default: the owner only)",
    )
    encrypt.add_argument(
        "--expires-at-height", type=int, metavar="H", help="refuse every request once the chain is past H"
    )
    encrypt.add_argument("pairs", nargs="+", metavar="NAME=VALUE", help="or - to read NAME=VALUE lines from stdin")
    encrypt.set_defaults(handler=_encrypt)
