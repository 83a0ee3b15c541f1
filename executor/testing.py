"""Test and bench helper: one-commit git repositories to point `file://` code sources at.

Kept in the package (like `devnet/testing.py`) so every test folder and the benches build guest
repos the same way: fixed identity and dates (the same files give the same commit), no user or
system git config, and symlinks written as symlinks so hostile repos can be expressed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["RepoFiles", "git_repo"]

RepoFiles = dict[str, str | bytes | Path]
"""Repo path -> text, bytes, or a `Path`: a symlink to that target (for symlink-escape tests)."""

_ENV = {
    "PATH": "/usr/bin:/bin",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t.invalid",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00+00:00",
}


def git_repo(root: Path, files: RepoFiles, *, compress: bool = True) -> tuple[str, str]:
    """Writes `files` under `root`, commits them once; returns (file:// URL, commit sha).

    `compress=False` stores and serves objects uncompressed: fetching a multi-megabyte module must
    not spend a request's fetch budget in zlib.
    """
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            os.symlink(content, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    env = {**_ENV, "HOME": str(root)}
    level = "-1" if compress else "0"
    plain = ["-c", f"core.compression={level}", "-c", f"pack.compression={level}"]
    for cmd in (
        ["init", "-q", "-b", "main"],
        [*plain, "add", "-A"],
        ["commit", "-q", "-m", "test"],
        ["config", "pack.compression", level],
    ):
        subprocess.run(["git", *cmd], cwd=root, env=env, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, env=env, check=True, capture_output=True, text=True)
    return f"file://{root}", head.stdout.strip()
