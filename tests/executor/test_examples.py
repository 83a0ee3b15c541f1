"""Example guests published as git repos: deterministic commits, every guest documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from executor import ExecutorError, examples


def test_publish_is_deterministic_across_roots(tmp_path: Path) -> None:
    url_a, commit_a = examples.publish("sha256", tmp_path / "a")
    url_b, commit_b = examples.publish("sha256", tmp_path / "b")
    assert re.fullmatch(r"[0-9a-f]{40}", commit_a)
    assert commit_a == commit_b and url_a != url_b
    assert examples.publish("sha256", tmp_path / "a") == (url_a, commit_a)  # re-publish: no new commit
    assert (Path(url_a.removeprefix("file://")) / "main.c").is_file()


def test_wat_examples_ship_a_prebuilt_module(tmp_path: Path) -> None:
    url, _ = examples.publish("hello_wat", tmp_path)
    info = examples.describe("hello_wat")
    assert info.build_target == "wasm" and info.path == "hello.wasm"
    assert (Path(url.removeprefix("file://")) / "hello.wasm").read_bytes().startswith(b"\0asm")


def test_every_guest_has_a_readme_line() -> None:
    names = examples.names()
    assert {"json_echo", "random_range", "sha256", "cpu_bound", "secret_env", "infinite_loop"} <= set(names)
    for name in names:
        assert examples.describe(name).description, name


def test_unknown_example(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError):
        examples.publish("../etc", tmp_path)
