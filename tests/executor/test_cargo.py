"""Rust guests with crates: offline cargo builds against a directory registry, inside the real sandbox.

The crates are Debian's (`librust-*-dev` in /usr/share/cargo/registry). The production fetch step is
tested against a local directory registry standing in for the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from executor import ArtifactStore, BuildError, CodeSource, CompileConfig, Executor, StoreConfig, compile_source
from executor._cargo import fetch_crates, locked_crates, tree_sha256
from executor.examples import GUESTS_DIR

MakeRepo = Callable[[dict[str, str]], tuple[str, str]]
ROOT = Path(__file__).resolve().parents[2]
SERDE_STATS = GUESTS_DIR / "serde_stats"
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory the sandbox's unprivileged build uid can traverse (pytest's tmp is 0700)."""
    base = ROOT / ".offshore" / "executor" / "tests"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="cargo-", dir=base))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _stand_in_registry(root: Path) -> Path:
    """A directory registry holding exactly serde_stats' locked crates, as a mirror would."""
    registry = root / "upstream"
    for crate in locked_crates((SERDE_STATS / "Cargo.lock").read_text()):
        shutil.copytree(DEBIAN_REGISTRY / crate.dirname, registry / crate.dirname)
    return registry


def test_serde_json_guest_builds_offline_and_runs(guests: dict[str, bytes], executor: Executor) -> None:
    body = b'{"values": [1, 2, 4.5], "label": "t"}'
    result = executor.execute(guests["serde_stats"], body)
    assert result.success, result.error
    assert json.loads(result.stdout) == {
        "label": "t",
        "count": 3,
        "sum": 7.5,
        "mean": 2.5,
        "min": 1.0,
        "max": 4.5,
        "sha256": hashlib.sha256(body).hexdigest(),  # sha2 + hex crates
    }
    bad = executor.execute(guests["serde_stats"], b"not json")
    assert bad.exit_code == 2 and b"bad input" in bad.stderr


def test_fetch_step_build_matches_the_local_build(
    guests: dict[str, bytes],
    published: dict[str, tuple[str, str]],
    compile_config: CompileConfig,
    scratch: Path,
) -> None:
    """Production path: locked crates copied from an upstream into a content-addressed cache, then the
    same offline build. Same source -> same wasm sha256 as the build against the Debian registry."""
    upstream = _stand_in_registry(scratch)
    cache = scratch / "cache"
    config = dataclasses.replace(compile_config, cargo_fetch_from=upstream, cargo_cache_dir=cache)
    url, commit = published["serde_stats"]
    store = ArtifactStore(StoreConfig(root=scratch / "store"))
    result = compile_source(CodeSource(repo=url, commit=commit), store=store, config=config)
    assert not result.cached
    assert store.get(result.sha256) == guests["serde_stats"]  # byte-identical to the Debian-registry build
    blobs = sorted(p.name for p in (cache / "blobs").iterdir() if not p.name.startswith("."))
    assert len(blobs) == len(locked_crates((SERDE_STATS / "Cargo.lock").read_text()))
    assert all(tree_sha256(cache / "blobs" / name) == name for name in blobs)  # content-addressed


def test_fetch_cache_serves_without_upstream_and_refuses_tampered_crates(scratch: Path) -> None:
    upstream = _stand_in_registry(scratch)
    crates = [c for c in locked_crates((SERDE_STATS / "Cargo.lock").read_text()) if c.name in ("hex", "itoa")]
    first = fetch_crates(crates, upstream, scratch / "cache")
    shutil.rmtree(upstream / "hex-0.4.3")  # "the network is down": the cache alone serves
    assert fetch_crates(crates, upstream, scratch / "cache") == first
    # An upstream whose crate does not match the lock's checksum is refused, never cached.
    checksum = upstream / "itoa-1.0.1" / ".cargo-checksum.json"
    checksum.write_text(json.dumps({"package": "0" * 64, "files": {}}))
    with pytest.raises(BuildError, match=r"dependency not available: itoa 1\.0\.1"):
        fetch_crates([c for c in crates if c.name == "itoa"], upstream, scratch / "other-cache")
    assert not (scratch / "other-cache" / "blobs").exists() or not any((scratch / "other-cache" / "blobs").iterdir())


def test_crate_outside_the_set_is_a_clear_compile_error(make_repo: MakeRepo, compile_config: CompileConfig) -> None:
    lock = (SERDE_STATS / "Cargo.lock").read_text() + (
        '\n[[package]]\nname = "left-pad"\nversion = "1.0.0"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
        'checksum = "0000000000000000000000000000000000000000000000000000000000000000"\n'
    )
    manifest = (SERDE_STATS / "Cargo.toml").read_text().replace('hex = "0.4"', 'hex = "0.4"\nleft-pad = "1"')
    url, commit = make_repo(
        {"Cargo.toml": manifest, "Cargo.lock": lock, "src/main.rs": (SERDE_STATS / "src/main.rs").read_text()}
    )
    store = ArtifactStore(StoreConfig(root=Path(tempfile.mkdtemp())))
    with pytest.raises(BuildError, match=r"^dependency not available: left-pad 1\.0\.0$"):
        compile_source(CodeSource(repo=url, commit=commit), store=store, config=compile_config)


def test_dependencies_need_a_lock_file_and_crates_io_sources(
    make_repo: MakeRepo, compile_config: CompileConfig
) -> None:
    files = {"Cargo.toml": (SERDE_STATS / "Cargo.toml").read_text(), "src/main.rs": "fn main() {}\n"}
    url, commit = make_repo(files)
    store = ArtifactStore(StoreConfig(root=Path(tempfile.mkdtemp())))
    with pytest.raises(BuildError, match=r"needs a committed Cargo\.lock"):
        compile_source(CodeSource(repo=url, commit=commit), store=store, config=compile_config)
    git_lock = '[[package]]\nname = "foo"\nversion = "0.1.0"\nsource = "git+https://example.invalid/foo"\n'
    with pytest.raises(BuildError, match=r"dependency not available: foo 0\.1\.0"):
        locked_crates(git_lock)
