"""Every `offshore` command, driven into the errors a user can meet, answers with exactly one line on
stderr (`offshore: error: ...`) and exit code 2: never a traceback, never library log lines.

Each case is a real `python -m offshore.cli` process against real counterparts that are not there (a
closed loopback port for Kafka, Postgres and the NEAR RPC) or real bad input (a garbage devnet state
file, a missing key file). The cases run concurrently: the Kafka ones wait out librdkafka's timeout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devnet.node.keys import KeyPair, write_credentials
from offshore.cli import build_parser
from offshore.stack import free_port

COMMIT = "a" * 40
BAD_KEY = "not-hex-SECRET-VALUE"
BAD_MASTER = {"OFFSHORE_KEYSTORE_MASTER_KEY": BAD_KEY}
NO_KEYS_FILE = {"OFFSHORE_OPERATOR_KEYS_FILE": "/nonexistent"}
INVALID_SETTING = {"OFFSHORE_LOG_LEVEL": "LOUD"}
# The arguments a command needs before it can fail on anything but argparse.
REQUIRED = {
    "request": ["--repo", "file:///r", "--commit", COMMIT],
    "secrets encrypt": ["--repo", "file:///r", "--owner", "alice.test.near", "--any-commit", "A=1"],
    "secrets pubkey": ["--repo", "file:///r", "--owner", "alice.test.near"],
    "run": ["--repo", "file:///r", "--commit", COMMIT],
    "contract cancel": ["1"],
    "operator keys add": ["1"],
}


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    expect: str  # a fragment of the one line
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_commands(sub, (*prefix, name))


def cases(tmp: Path) -> list[Case]:
    creds = tmp / "creds"
    write_credentials(creds, "localnet", "alice.test.near", KeyPair.generate())
    garbage = tmp / "garbage-state.db"
    garbage.write_text("{not a chain")
    request = ["request", "--repo", "file:///r", "--commit", COMMIT, "--account", "alice.test.near"]
    encrypt = ["secrets", "encrypt", "--repo", "file:///r", "--owner", "alice.test.near"]
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: the keystore is "down"
    out = [
        Case(f"{' '.join(leaf)}: invalid setting", [*leaf, *REQUIRED.get(" ".join(leaf), [])], "OFFSHORE_LOG_LEVEL")
        for leaf in leaf_commands(build_parser())
    ]
    out += [
        Case(f"{cmd}: Kafka unreachable", [cmd], "cannot reach Kafka")
        for cmd in ("compile", "execute", "settle", "indexer", "project")
    ]
    out += [
        Case("topics create: Kafka unreachable", ["topics", "create"], "cannot reach Kafka"),
        Case("keystore: no master key", ["keystore"], "OFFSHORE_KEYSTORE_MASTER_KEY_FILE"),
        Case("keystore: bad master key", ["keystore"], "keystore master keys", BAD_MASTER),
        Case("settle: missing keys file", ["settle"], "OFFSHORE_OPERATOR_KEYS_FILE", NO_KEYS_FILE),
        Case("db migrate: Postgres unreachable", ["db", "migrate"], "cannot connect to Postgres"),
        Case("db refresh: Postgres unreachable", ["db", "refresh"], "cannot connect to Postgres"),
        Case("devnet: unreadable state file", ["devnet", "--port", "0", "--state-file", str(garbage)], "state file"),
        Case("request: no key", request, "no key for alice.test.near"),
        Case("request: unreadable input", [*request, "--credentials-dir", str(creds), "--input", "@/no"], "--input"),
        Case("request: RPC unreachable", [*request, "--credentials-dir", str(creds)], "cannot reach the NEAR RPC"),
        Case("secrets encrypt: not pairs", [*encrypt, "--any-commit", "oops"], "NAME=VALUE"),
        Case("secrets encrypt: both bindings", [*encrypt, "--any-commit", "--commit", COMMIT, "A=1"], "--any-commit"),
        Case("secrets encrypt: keystore down", [*encrypt, "--keystore", down, "--any-commit", "A=1"], "unreachable"),
        Case("secrets pubkey: keystore down", ["secrets", "pubkey", *encrypt[2:], "--keystore", down], "unreachable"),
        Case("contract status: RPC unreachable", ["contract", "status"], "cannot reach the NEAR RPC"),
        Case("contract pause: no signer key", ["contract", "pause"], "no key for offshore.test.near"),
        Case("contract cancel: no signer key", ["contract", "cancel", "1"], "no key for offshore.test.near"),
        Case("operator keys list: RPC unreachable", ["operator", "keys", "list"], "cannot reach the NEAR RPC"),
        Case("operator keys add: no signer key", ["operator", "keys", "add", "1"], "no key for operator.test.near"),
        Case("operator keys revoke: no signer key", ["operator", "keys", "revoke"], "no key for operator.test.near"),
    ]  # fmt: skip
    return out


@dataclass
class Outcome:
    code: int
    stderr: str


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, Outcome]]:
    tmp = tmp_path_factory.mktemp("cli")
    closed = free_port()  # nothing listens here: Kafka, Postgres and the RPC are all "down"
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
    base.update(
        HOME=str(tmp / "home"),  # no near-cli credentials of the machine's user
        OFFSHORE_STATE_DIR=str(tmp / "state"),
        OFFSHORE_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed}",
        OFFSHORE_POSTGRES_DSN=f"postgresql://offshore@127.0.0.1:{closed}/offshore",
        OFFSHORE_NEAR_RPC_URL=f"http://127.0.0.1:{closed}",
        OFFSHORE_BLOCK_API_URL=f"http://127.0.0.1:{closed}/v0",
    )
    running = []
    for case in cases(tmp):
        env = {**base, **case.env, **(INVALID_SETTING if case.name.endswith("invalid setting") else {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "offshore.cli", *case.argv],
            env=env,
            cwd=tmp,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        running.append((case, proc))
    done = {}
    for case, proc in running:
        _, err = proc.communicate(case.stdin, timeout=300)
        done[case.name] = (case, Outcome(proc.returncode, err))
    return done


def test_each_user_error_is_one_line_and_exit_2(outcomes: dict[str, tuple[Case, Outcome]]) -> None:
    problems = {}
    for name, (case, out) in outcomes.items():
        lines = out.stderr.strip().splitlines()
        ok = out.code == 2 and len(lines) == 1 and lines[0].startswith("offshore: error: ") and case.expect in lines[0]
        if not ok:
            problems[name] = (out.code, out.stderr[-600:])
    assert problems == {}
    leaves = {" ".join(leaf) for leaf in leaf_commands(build_parser())}
    covered = {name.split(":")[0] for name in outcomes}
    assert covered == leaves  # every command, including one added later, is driven into an error


def test_no_secret_reaches_the_error_line(outcomes: dict[str, tuple[Case, Outcome]]) -> None:
    _, out = outcomes["keystore: bad master key"]
    assert BAD_KEY not in out.stderr
