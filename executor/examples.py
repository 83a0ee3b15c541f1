"""Publishes the example guests (executor/guests/<name>) as local git repositories.

Deterministic: fixed author, committer, dates and file modes, so a guest's commit sha depends only on
its files, and re-publishing is a no-op. `.wat` files are also converted to `.wasm` (for
`build_target: "wasm"` examples), since a prebuilt module is what such a repo ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from executor._types import BuildTarget
from executor.errors import ExecutorError

GUESTS_DIR = Path(__file__).with_name("guests")
_DATE = "2025-01-01T00:00:00+00:00"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "NEAR Offshore examples",
    "GIT_AUTHOR_EMAIL": "examples@offshore.invalid",
    "GIT_COMMITTER_NAME": "NEAR Offshore examples",
    "GIT_COMMITTER_EMAIL": "examples@offshore.invalid",
    "GIT_AUTHOR_DATE": _DATE,
    "GIT_COMMITTER_DATE": _DATE,
}


@dataclass(frozen=True, slots=True)
class Example:
    """How to request an example: the code_source fields besides repo and commit."""

    name: str
    build_target: BuildTarget
    path: str | None
    description: str


def names() -> list[str]:
    """Every example guest, sorted."""
    return sorted(p.name for p in GUESTS_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def describe(name: str) -> Example:
    """The build target and path a request for `name` needs, and its README line."""
    folder = _folder(name)
    wat = sorted(folder.glob("*.wat"))
    readme = folder / "README.md"
    description = readme.read_text().strip() if readme.exists() else ""
    if wat:
        return Example(name, "wasm", wat[0].with_suffix(".wasm").name, description)
    if (folder / "main.py").is_file():
        return Example(name, "python", None, description)
    return Example(name, "wasm32-wasip1", None, description)


def publish(name: str, root: Path) -> tuple[str, str]:
    """Makes `root/<name>` a git repo holding the guest; returns (file:// URL, 40-hex commit)."""
    import wasmtime  # local: only publishing WAT examples needs it

    folder = _folder(name)
    repo = (root / name).resolve()
    with tempfile.TemporaryDirectory(prefix="offshore-example-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(folder, tree, ignore=shutil.ignore_patterns("*.wasm", "target", ".*"))
        for wat in tree.glob("*.wat"):
            wat.with_suffix(".wasm").write_bytes(bytes(wasmtime.wat2wasm(wat.read_text())))
        for path in sorted(tree.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, repo, "init", "-q", "-b", "main")
        _git(repo, tree, "add", "-A", ".")
        tree_sha = _git(repo, tree, "write-tree")
        head = _git(repo, repo, "rev-parse", "-q", "--verify", "HEAD^{tree}", check=False)
        if head != tree_sha:
            commit = _git(repo, repo, "commit-tree", tree_sha, "-m", f"example guest: {name}")
            _git(repo, repo, "update-ref", "HEAD", commit)
            _git(repo, repo, "checkout", "-q", "-f", "HEAD", "--", ".")
    return f"file://{repo}", _git(repo, repo, "rev-parse", "HEAD")


def _folder(name: str) -> Path:
    folder = GUESTS_DIR / name
    if "/" in name or name.startswith(".") or not folder.is_dir():
        raise ExecutorError(f"no example guest named {name!r}")
    return folder


def _git(repo: Path, work_tree: Path, *args: str, check: bool = True) -> str:
    """git on `repo` with `work_tree` as both work tree and cwd (pathspecs resolve against it)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        **_IDENTITY,
    }
    cmd = ["git", f"--git-dir={repo / '.git'}", f"--work-tree={work_tree}", *args]
    if args[0] == "init":
        cmd = ["git", *args, str(repo)]
    proc = subprocess.run(cmd, cwd=work_tree, capture_output=True, env=env, check=False, timeout=60)
    if check and proc.returncode != 0:
        raise ExecutorError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode().strip()
