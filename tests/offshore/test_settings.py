from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from offshore import ConfigError, load_settings


def test_defaults_point_at_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFSHORE_KAFKA_BOOTSTRAP", raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap is None
    assert settings.state_dir == Path(".offshore")


def test_env_vars_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSHORE_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("OFFSHORE_ALLOW_FILE_URLS", "true")
    settings = load_settings()
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.allow_file_urls is True


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSHORE_STACK_KAFKA_PORT", "99999")
    with pytest.raises(ConfigError, match=r"^invalid setting OFFSHORE_STACK_KAFKA_PORT: "):
        load_settings()


def test_cli_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {"OFFSHORE_STACK_POSTGRES_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "offshore.cli", "stack", "status"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "offshore: error: invalid setting OFFSHORE_STACK_POSTGRES_PORT: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_every_setting_is_documented_in_the_readme() -> None:
    from offshore import Settings

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [
        f"OFFSHORE_{name.upper()}" for name in Settings.model_fields if f"`OFFSHORE_{name.upper()}`" not in readme
    ]
    assert missing == []
