"""The nearc build tooling: patched copy (installed package untouched), cache, reproducibility, errors."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import nearc
import pytest

from contract import OFFSHORE_SOURCE, ContractBuildError, build_contract
from contract.build import PATCH_FILES, default_cache_dir, toolchain_hash

YIELD_LINE = "mp_obj_t items[] = { u64_to_mp_int(promise_id), read_default_temp_register_as_bytes() };"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_patches_go_to_a_copy_never_to_the_installed_nearc(offshore_wasm: bytes) -> None:
    installed = Path(nearc.__file__).parent / "micropython" / "ports" / "webassembly-near" / "modnear.c"
    assert YIELD_LINE not in installed.read_text()  # still the upstream (buggy) code
    copy = default_cache_dir() / f"toolchain-{toolchain_hash()[:16]}" / "micropython" / "ports" / "webassembly-near"
    assert YIELD_LINE in (copy / "modnear.c").read_text()
    assert "(2 * 1024 * 1024)" in (copy / "main.c").read_text()
    assert "vstr->len / 2" in (copy.parent.parent / "py" / "vstr.c").read_text()
    assert "json_load_from(s)" in (copy.parent.parent / "extmod" / "modjson.c").read_text()
    assert [p.name for p in PATCH_FILES] == [
        "micropython-gc-heap.patch",
        "micropython-json-loads-buffer.patch",
        "micropython-vstr-growth.patch",
        "modnear-yield.patch",
    ]


def test_cache_hit_is_a_copy_of_identical_bytes(offshore_wasm: bytes, tmp_path: Path) -> None:
    started = time.monotonic()
    out = build_contract(OFFSHORE_SOURCE, tmp_path / "again.wasm")
    assert time.monotonic() - started < 5
    assert out.read_bytes() == offshore_wasm


def test_rebuilding_the_same_source_without_the_cache_gives_the_same_sha256(
    offshore_wasm: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A fresh cache, seeded with the warm toolchain and object files (a cold build takes ~60-100 s on
    # 2 cores), so nearc really runs again: only the cached WASM is missing.
    cache = tmp_path_factory.mktemp("nocache")
    tag = toolchain_hash()[:16]
    os.symlink(default_cache_dir() / f"toolchain-{tag}", cache / f"toolchain-{tag}")
    shutil.copytree(default_cache_dir() / "work" / f"tree-{tag}", cache / "work" / f"tree-{tag}", symlinks=True)
    src = tmp_path_factory.mktemp("src") / "offshore"
    shutil.copytree(OFFSHORE_SOURCE.parent, src, ignore=shutil.ignore_patterns("__pycache__"))
    out = build_contract(src / OFFSHORE_SOURCE.name, cache / "offshore.wasm", cache_dir=cache)
    assert list((cache / "wasm").glob("*.wasm"))  # it was built here, not copied from the main cache
    assert _sha(out) == hashlib.sha256(offshore_wasm).hexdigest()


def test_a_changed_source_is_rebuilt_and_a_broken_one_fails(
    offshore_wasm: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    src = tmp_path_factory.mktemp("edited") / "offshore"
    shutil.copytree(OFFSHORE_SOURCE.parent, src, ignore=shutil.ignore_patterns("__pycache__"))
    entry = src / OFFSHORE_SOURCE.name
    entry.write_text(entry.read_text() + "\n\n@view\ndef ping():\n    _json('pong')\n")
    out = build_contract(entry, src.parent / "edited.wasm")
    assert out.read_bytes() != offshore_wasm
    entry.write_text(entry.read_text() + "\ndef broken(:\n")
    with pytest.raises(ContractBuildError, match="failed"):
        build_contract(entry, src.parent / "broken.wasm")


def test_missing_source_and_trap_paths_are_reported(tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ContractBuildError, match="not found"):
        build_contract(Path("/nonexistent/contract.py"), Path("/tmp/x.wasm"))
    trap = tmp_path_factory.mktemp("trap") / "venv-cache"
    with pytest.raises(ContractBuildError, match="would drop every local module"):
        build_contract(OFFSHORE_SOURCE.parent / "state.py", trap / "x.wasm", cache_dir=trap)
