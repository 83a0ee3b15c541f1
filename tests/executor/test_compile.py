"""Builds from real git repos with real clang/rustc inside the real sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from executor import (
    ArtifactStore,
    BuildError,
    CodeSource,
    CompileConfig,
    ErrorKind,
    Executor,
    FetchError,
    InvalidArtifactError,
    InvalidSourceError,
    StoreConfig,
    compile_async,
    compile_source,
    examples,
)

MakeRepo = Callable[[dict[str, str]], tuple[str, str]]
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi from c"); return 0; }\n'


def _fresh_store(tmp_path: Path, name: str) -> ArtifactStore:
    return ArtifactStore(StoreConfig(root=tmp_path / name))


@pytest.mark.parametrize("name", ["sha256", "json_echo"])  # C and Rust
def test_same_source_builds_to_the_same_sha256_twice(
    name: str, published: dict[str, tuple[str, str]], compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = published[name]
    source = CodeSource(repo=url, commit=commit)
    first = compile_source(source, store=_fresh_store(tmp_path, "a"), config=compile_config)
    second = compile_source(source, store=_fresh_store(tmp_path, "b"), config=compile_config)
    assert not first.cached and not second.cached  # two real builds, in different throwaway dirs
    assert first.sha256 == second.sha256
    assert first.size == second.size > 1000


def test_second_compile_is_a_cache_hit(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, commit = make_repo({"main.c": HELLO_C})
    store = _fresh_store(tmp_path, "s")
    first = compile_source(
        {"repo": url, "commit": commit, "build_target": "wasm32-wasip1"}, store=store, config=compile_config
    )
    second = compile_source({"repo": url + "/", "commit": commit.upper()}, store=store, config=compile_config)
    assert not first.cached and first.compile_time_ms > 0
    assert second.cached and second.compile_time_ms == 0  # canonical URL and commit: same key
    assert second.sha256 == first.sha256
    wasm = store.get(first.sha256)
    assert wasm is not None
    with Executor() as ex:
        assert ex.execute(wasm).stdout == b"hi from c\n"


async def test_compile_async(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, commit = make_repo({"src/main.c": HELLO_C})
    result = await compile_async(
        CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=compile_config
    )
    assert result.size > 0 and not result.cached


def test_subdirectory_path_builds_that_folder(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"README": "x", "guest/main.c": HELLO_C, "other/broken.c": "nope"})
    source = CodeSource(repo=url, commit=commit, path="guest")
    result = compile_source(source, store=_fresh_store(tmp_path, "s"), config=compile_config)
    assert result.path == "guest" and result.size > 0


def test_compile_error_returns_the_build_log(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"main.c": "int main(void) { return missing_symbol; }\n"})
    with pytest.raises(BuildError) as info:
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=compile_config)
    assert "missing_symbol" in info.value.log
    assert "undeclared identifier" in info.value.log


def test_rust_crate_with_dependencies_needs_a_lock_file(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    """Dependencies build with cargo --frozen (tests/executor/test_cargo.py): never without a lock."""
    url, commit = make_repo(
        {
            "Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n\n[dependencies]\nserde = "1"\n',
            "src/main.rs": "fn main() {}\n",
        }
    )
    with pytest.raises(BuildError, match=r"needs a committed Cargo\.lock"):
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=compile_config)


def test_repo_without_sources_is_a_build_error(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"README.md": "nothing here"})
    with pytest.raises(BuildError, match="nothing to build"):
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=compile_config)


def test_build_cannot_read_host_files(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    """`#include` of a host path fails: only /usr and the checkout exist in the sandbox."""
    secret = tmp_path / "host-secret.h"
    secret.write_text("#define SECRET 1\n")
    url, commit = make_repo({"main.c": f'#include "{secret}"\nint main(void) {{ return SECRET; }}\n'})
    with pytest.raises(BuildError) as info:
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=compile_config)
    assert "file not found" in info.value.log


def test_build_wall_clock_limit(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    """A pathological translation unit (exponential macro expansion) is killed at the wall clock."""
    bomb = "#define A0 x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 40)) + "int x = A39;\n"
    url, commit = make_repo({"main.c": bomb + "int main(void) { return 0; }\n"})
    limits = compile_config.build_limits.__class__(wall_seconds=2, cpu_seconds=60)
    config = dataclasses.replace(compile_config, build_limits=limits)
    with pytest.raises(BuildError) as info:
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=config)
    assert info.value.timed_out


def test_prebuilt_wasm_target(
    published: dict[str, tuple[str, str]], compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = published["hello_wat"]
    result = compile_source(
        CodeSource(repo=url, commit=commit, build_target="wasm", path="hello.wasm"),
        store=_fresh_store(tmp_path, "s"),
        config=compile_config,
    )
    assert result.build_target == "wasm" and result.size > 0


@pytest.mark.parametrize(("name", "message"), [("no_start", "_start"), ("bad_imports", "non-WASI")])
def test_builder_rejects_programs_that_cannot_run(
    name: str, message: str, published: dict[str, tuple[str, str]], compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = published[name]
    info = examples.describe(name)
    with pytest.raises(InvalidArtifactError, match=message):
        compile_source(
            CodeSource(repo=url, commit=commit, build_target=info.build_target, path=info.path),
            store=_fresh_store(tmp_path, "s"),
            config=compile_config,
        )


def test_prebuilt_symlink_to_a_host_file_is_refused(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"README": "x"})
    repo = Path(url.removeprefix("file://"))
    os.symlink("/etc/passwd", repo / "evil.wasm")
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "add", "evil.wasm"], cwd=repo, check=True, env={**os.environ, **env})
    subprocess.run(["git", "commit", "-qm", "evil"], cwd=repo, check=True, env={**os.environ, **env})
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    with pytest.raises(InvalidSourceError, match="regular file"):
        compile_source(
            CodeSource(repo=url, commit=commit, build_target="wasm", path="evil.wasm"),
            store=_fresh_store(tmp_path, "s"),
            config=compile_config,
        )


def test_unknown_commit_is_a_fetch_error(make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path) -> None:
    url, _commit = make_repo({"main.c": HELLO_C})
    with pytest.raises(FetchError):
        compile_source(CodeSource(repo=url, commit="1" * 40), store=_fresh_store(tmp_path, "s"), config=compile_config)


def test_file_urls_are_off_by_default(make_repo: MakeRepo, tmp_path: Path) -> None:
    url, commit = make_repo({"main.c": HELLO_C})
    with pytest.raises(InvalidSourceError, match="file://"):
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"))


def test_file_url_outside_the_allowed_roots(make_repo: MakeRepo, tmp_path: Path) -> None:
    url, commit = make_repo({"main.c": HELLO_C})
    config = CompileConfig(allow_file_urls=True, allowed_file_roots=(tmp_path / "elsewhere",))
    with pytest.raises(InvalidSourceError, match="allowed roots"):
        compile_source(CodeSource(repo=url, commit=commit), store=_fresh_store(tmp_path, "s"), config=config)


def test_many_concurrent_compiles_of_one_key_build_once(
    make_repo: MakeRepo, compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = make_repo({"main.c": HELLO_C})
    store = _fresh_store(tmp_path, "s")

    async def all_at_once() -> list[bool]:
        results = await asyncio.gather(
            *(compile_async(CodeSource(repo=url, commit=commit), store=store, config=compile_config) for _ in range(4))
        )
        assert len({r.sha256 for r in results}) == 1
        return [r.cached for r in results]

    cached = asyncio.run(all_at_once())
    assert cached.count(False) == 1


def test_built_guest_runs_with_its_error_kind(
    published: dict[str, tuple[str, str]], artifact_store: ArtifactStore, compile_config: CompileConfig
) -> None:
    """End to end: a repo at a commit -> store -> run."""
    url, commit = published["trap"]
    result = compile_source(CodeSource(repo=url, commit=commit), store=artifact_store, config=compile_config)
    wasm = artifact_store.get(result.sha256)
    assert wasm is not None
    with Executor() as ex:
        assert ex.execute(wasm, b"0", sha256=result.sha256).error_kind is ErrorKind.TRAP
