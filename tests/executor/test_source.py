"""URL canonicalisation and validation of code sources (pure: no git involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor import CodeSource, CompileConfig, InvalidSourceError
from executor._source import canonical_repo_url, check_source, normalise_repo_path

HTTPS = CompileConfig()
DEV = CompileConfig(allow_file_urls=True, allowed_file_roots=(Path("/tmp"),))
COMMIT = "a" * 40


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://github.com/near/offshore", "https://github.com/near/offshore"),
        ("HTTPS://GitHub.com/near/offshore.git/", "https://github.com/near/offshore.git"),
        ("https://github.com:443//near//offshore", "https://github.com/near/offshore"),
        ("https://gitlab.com:8443/a/b", "https://gitlab.com:8443/a/b"),
    ],
)
def test_canonical_urls(url: str, canonical: str) -> None:
    assert canonical_repo_url(url, HTTPS)[0] == canonical


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://github.com/a/b", "scheme"),
        ("ssh://git@github.com/a/b", "scheme"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "transport"),
        ("git@github.com:a/b.git", "scheme"),
        ("--upload-pack=touch /tmp/x", "whitespace"),
        ("-uhttps://github.com/a/b", "'-'"),
        ("https://evil.example/a/b", "not allowed"),
        ("https://user:pw@github.com/a/b", "credentials"),
        ("https://github.com/a/../../etc", "'..'"),
        ("https://github.com/a/%2e%2e/b", "percent"),
        ("https://github.com/a/b?x=1", "query"),
        ("https://github.com/a/b#frag", "query"),
        ("https://github.com/a/-b", "option"),
        ("https://github.com/", "no repository path"),
        ("https://github.com/a\\b", "percent"),
        ("https://github.com/a/b\n", "whitespace"),
        ("file:///tmp/repo", "disabled"),
        ("", "missing"),
    ],
)
def test_rejected_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidSourceError, match=reason):
        canonical_repo_url(url, HTTPS)


def test_file_urls_in_dev() -> None:
    assert canonical_repo_url("file:///tmp//x/repo/", DEV) == ("file:///tmp/x/repo", Path("/tmp/x/repo"))
    for bad in ("file://host/tmp/x", "file:///tmp/../etc", "file://tmp/x"):
        with pytest.raises(InvalidSourceError):
            canonical_repo_url(bad, DEV)


@pytest.mark.parametrize("commit", ["main", "a" * 39, "g" * 40, "HEAD", "a" * 41, "-" + "a" * 39])
def test_commit_must_be_40_hex(commit: str) -> None:
    with pytest.raises(InvalidSourceError, match="40-hex"):
        check_source(CodeSource(repo="https://github.com/a/b", commit=commit), HTTPS)


@pytest.mark.parametrize("path", ["../x.wasm", "/etc/passwd", "a/../../b", "-rf", "a b", "./x"])
def test_paths_stay_inside_the_repo(path: str) -> None:
    with pytest.raises(InvalidSourceError):
        normalise_repo_path(path)


def test_wasm_target_needs_a_wasm_path() -> None:
    with pytest.raises(InvalidSourceError, match="needs path"):
        check_source(CodeSource(repo="https://github.com/a/b", commit=COMMIT, build_target="wasm"), HTTPS)
    ok = check_source(
        CodeSource(repo="https://github.com/a/b", commit=COMMIT.upper(), build_target="wasm", path="out/g.wasm"),
        HTTPS,
    )
    assert ok.commit == COMMIT and ok.path == "out/g.wasm"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"repo": "https://github.com/a/b"},
        {"repo": 1, "commit": COMMIT},
        {"repo": "https://github.com/a/b", "commit": COMMIT, "build_target": "x86_64"},
        {"repo": "https://github.com/a/b", "commit": COMMIT, "path": 5},
    ],
)
def test_malformed_code_source_mappings(data: dict[str, object]) -> None:
    with pytest.raises(InvalidSourceError):
        CodeSource.from_mapping(data)
