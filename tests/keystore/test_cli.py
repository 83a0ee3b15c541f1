"""`offshore secrets pubkey|encrypt` errors a developer can fix: one line, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offshore.stack import free_port

REPO, OWNER = "https://github.com/acme/app.git", "alice.test.near"


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offshore.cli", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("extra", "stdin", "message"),
    [
        ((), "K=v\n", "give --commit SHA (the secrets open for that commit only) or --any-commit"),
        (("--commit", "a" * 40, "--any-commit"), "K=v\n", "give --commit SHA or --any-commit, not both"),
        (("--any-commit",), "no-equals-sign\n", "secrets are NAME=VALUE pairs"),
    ],
)
def test_encrypt_refuses_an_unclear_request_before_asking_the_keystore(
    extra: tuple[str, ...], stdin: str, message: str
) -> None:
    out = cli("secrets", "encrypt", "--repo", REPO, "--owner", OWNER, *extra, "-", stdin=stdin)
    assert (out.returncode, out.stderr.strip()) == (2, f"offshore: error: {message}")


def test_an_unreachable_keystore_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = cli("secrets", "pubkey", "--keystore", url, "--repo", REPO, "--owner", OWNER)
    assert out.returncode == 2
    assert out.stderr.startswith(f"offshore: error: keystore {url} unreachable") and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "the keystore needs OFFSHORE_KEYSTORE_MASTER_KEY_FILE or OFFSHORE_KEYSTORE_MASTER_KEY"),
        (
            {"OFFSHORE_KEYSTORE_MASTER_KEY": "k1:abcd"},
            "keystore master keys: master key 'k1' must be at least 32 bytes",
        ),
        (
            {"OFFSHORE_KEYSTORE_MASTER_KEY": "k1:" + "ab" * 32, "OFFSHORE_KEYSTORE_TOKEN": "short"},
            "OFFSHORE_KEYSTORE_TOKEN (the decrypt API's shared token) must be at least 16 characters",
        ),
    ],
)
def test_the_keystore_refuses_to_start_without_keys_or_token(env: dict[str, str], message: str, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
    out = subprocess.run(
        [sys.executable, "-m", "offshore.cli", "keystore"],
        env={**clean, "OFFSHORE_STATE_DIR": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stderr.strip().splitlines()[-1]) == (2, f"offshore: error: {message}")
    assert "ab" * 32 not in out.stderr
