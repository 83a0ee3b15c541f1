"""The contract accepts `build_target: "python"` with the limits the client gives Python requests."""

from __future__ import annotations

from contract.testing import SOURCE, Offshore
from offshore.client import PYTHON_DEFAULT_LIMITS


def test_python_request_with_python_default_limits_is_accepted(offshore: Offshore) -> None:
    rid = offshore.request(code_source={**SOURCE, "build_target": "python"}, resource_limits=PYTHON_DEFAULT_LIMITS)
    stored = offshore.view("get_request", {"request_id": rid})
    assert stored["code_source"]["build_target"] == "python"
    assert stored["resource_limits"] == PYTHON_DEFAULT_LIMITS  # within the hard caps: not clipped, not refused
    assert offshore.estimate(PYTHON_DEFAULT_LIMITS) > offshore.estimate(None)  # the deposit covers the bigger run


def test_python_source_takes_no_path(offshore: Offshore) -> None:
    error = offshore.err("request_execution", {"code_source": {**SOURCE, "build_target": "python", "path": "x"}})
    assert "only allowed with build_target wasm" in error
