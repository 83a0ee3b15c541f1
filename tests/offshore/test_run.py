"""`offshore run` as a user runs it (a subprocess): the working tree with uncommitted changes, guest
HTTP against a loopback API (dev mode), the contract's cost, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Pricing, charge, estimate
from executor import examples
from executor.testing import git_repo
from executor.testing_http import MockWeb

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web() -> Iterator[MockWeb]:
    server = MockWeb()
    yield server
    server.close()


def offshore_run(
    cwd: Path, state: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
    full_env.update({"OFFSHORE_STATE_DIR": str(state), "PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "offshore.cli", "run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def oracle_tree(tmp_path: Path) -> Path:
    """A guest author's checkout: committed oracle, plus an uncommitted edit of its output format."""
    folder = examples.GUESTS_DIR / "oracle_median"
    tree = tmp_path / "tree"
    git_repo(tree, {"main.c": (folder / "main.c").read_text(), "offshore.h": (folder / "offshore.h").read_text()})
    source = (tree / "main.c").read_text().replace('"{\\"median\\": %.6g', '"{\\"edited\\": true, \\"median\\": %.6g')
    (tree / "main.c").write_text(source)
    return tree


def test_working_tree_with_http_prints_usage_and_the_contract_cost(
    oracle_tree: Path, tmp_path: Path, web: MockWeb
) -> None:
    urls = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma"))
    out = offshore_run(
        oracle_tree,
        tmp_path / "state",
        "--repo", ".", "--input", urls, "--allow-host", "127.0.0.1", "--max-http-calls", "3", "--max-http-kb", "16",
        "--json",
        env={"OFFSHORE_HTTP_DEV_MODE": "true"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    assert report["reproducible"] is False
    assert report["output"] == '{"edited": true, "median": 100.25, "sources": 3}\n'  # the uncommitted edit ran
    assert report["http_calls"] == 3 and report["http_bytes"] > 0 and len(report["io_sha256"]) == 64
    limits = report["limits"]
    assert limits == {
        "max_instructions": 10_000_000_000,
        "max_memory_mb": 128,
        "max_execution_seconds": 10,
        "max_http_calls": 3,
        "max_http_kb": 16,
        "http_hosts": ["127.0.0.1"],
    }
    p = Pricing()
    deposit = estimate(p, max_instructions=10**10, max_execution_seconds=10, max_http_calls=3, max_http_kb=16)
    assert report["deposit"] == deposit
    assert report["cost"] == charge(
        p, deposit, instructions=report["instructions"], time_ms=report["time_ms"],
        compile_time_ms=report["compile_time_ms"], max_instructions=10**10, max_execution_seconds=10,
        http_calls=3, http_bytes=report["http_bytes"], max_http_calls=3, max_http_kb=16,
    )  # fmt: skip
    assert report["cost"] > charge(p, deposit, instructions=report["instructions"], time_ms=0, compile_time_ms=0)


def test_human_report_and_nonzero_exit_on_a_failed_run(oracle_tree: Path, tmp_path: Path) -> None:
    out = offshore_run(oracle_tree, tmp_path / "state", "--repo", ".", "--input", "")
    assert out.returncode == 1
    assert "NOT reproducible" in out.stdout
    assert "result        FAILED: exit code 2" in out.stdout
    assert "no source answered" in out.stdout  # the guest's stderr
    assert "http          0 calls, 0 bytes" in out.stdout


def test_production_policy_applies_without_dev_mode(oracle_tree: Path, tmp_path: Path, web: MockWeb) -> None:
    out = offshore_run(
        oracle_tree, tmp_path / "state", "--repo", ".", "--input", web.url("/price/alpha"),
        "--allow-host", "127.0.0.1", "--max-http-calls", "1", "--json",
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert out.returncode == 1
    assert "scheme http refused (https only)" in report["stderr"]


def test_committed_repo_is_reproducible(tmp_path: Path) -> None:
    url, commit = examples.publish("sha256", tmp_path / "repos")
    out = offshore_run(
        tmp_path, tmp_path / "state", "--repo", url, "--commit", commit, "--input", "abc", "--json",
        env={"OFFSHORE_ALLOW_FILE_URLS": "true", "OFFSHORE_FILE_URL_ROOTS": str(tmp_path / "repos")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["reproducible"] is True and report["commit"] == commit
    assert report["output"].startswith("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--allow-host", "a.example"], "--allow-host needs --max-http-calls"),
        (["--max-http-calls", "2"], "max_http_calls needs at least one --allow-host"),
        (["--max-instructions", str(10**12)], "max_instructions 1000000000000 exceeds the hard cap"),
        (["--max-http-calls", "17", "--allow-host", "a.example"], "out of range"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = offshore_run(tmp_path, tmp_path / "state", "--repo", "https://github.com/a/b", "--commit", "a" * 40, *args)
    assert out.returncode == 2
    assert out.stderr.startswith("offshore: error: ") and message in out.stderr
    assert out.stderr.count("\n") == 1


def test_secrets_file_reaches_the_guest_and_is_never_printed(tmp_path: Path) -> None:
    url, commit = examples.publish("secret_env", tmp_path / "repos")
    secret = "run-s3cr3t-value"
    (tmp_path / "secrets.env").write_text(f"# local secrets\nAPI_KEY={secret}\n")
    out = offshore_run(
        tmp_path, tmp_path / "state", "--repo", url, "--commit", commit,
        "--secrets-file", str(tmp_path / "secrets.env"),
        env={"OFFSHORE_ALLOW_FILE_URLS": "true", "OFFSHORE_FILE_URL_ROOTS": str(tmp_path / "repos")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f'"present":true,"length":{len(secret)},' in out.stdout
    assert secret not in out.stdout and secret not in out.stderr
