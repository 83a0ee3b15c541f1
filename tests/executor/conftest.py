"""Real guests for the executor tests: example repos published with git, built through compile_source.

Everything is cached under `.offshore/executor/` (gitignored): a re-run finds the refs in the
artifact store and builds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from executor import (
    ArtifactStore,
    CodeSource,
    CompileConfig,
    Executor,
    ExecutorConfig,
    StoreConfig,
    compile_source,
    examples,
)
from executor.testing import git_repo

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".offshore" / "executor" / "tests"
REPOS = CACHE / "repos"
PREBUILT = {"no_start", "bad_imports"}  # rejected by the builder on purpose: loaded raw from the repo


@pytest.fixture(scope="session")
def compile_config() -> CompileConfig:
    return CompileConfig(allow_file_urls=True, allowed_file_roots=(REPOS, Path("/tmp")))


@pytest.fixture(scope="session")
def artifact_store() -> ArtifactStore:
    return ArtifactStore(StoreConfig(root=CACHE / "artifacts"))


@pytest.fixture(scope="session")
def published() -> dict[str, tuple[str, str]]:
    """name -> (file:// URL, commit) for every example guest."""
    return {name: examples.publish(name, REPOS) for name in examples.names()}


@pytest.fixture(scope="session")
def guests(
    published: dict[str, tuple[str, str]], artifact_store: ArtifactStore, compile_config: CompileConfig
) -> dict[str, bytes]:
    """name -> wasm bytes of every example guest (built once, then served from the store)."""
    out: dict[str, bytes] = {}
    for name, (url, commit) in published.items():
        info = examples.describe(name)
        if name in PREBUILT:
            assert info.path is not None
            out[name] = (REPOS / name / info.path).read_bytes()
            continue
        source = CodeSource(repo=url, commit=commit, build_target=info.build_target, path=info.path)
        result = compile_source(source, store=artifact_store, config=compile_config)
        data = artifact_store.get(result.sha256)
        assert data is not None
        out[name] = data
    return out


@pytest.fixture(scope="session")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    ex = Executor(ExecutorConfig(module_cache_dir=tmp_path_factory.mktemp("modules")))
    yield ex
    ex.close()


MakeRepo = Callable[[dict[str, str]], tuple[str, str]]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Factory of one-commit git repos holding `files`; each returns (file:// URL, commit)."""
    counter = iter(range(1000))
    return lambda files: git_repo(tmp_path / f"repo{next(counter)}", dict(files))
