"""Alert rules and the dashboard use only metrics the code exports; promtool checks and unit-tests the rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import indexer.metrics
import keystore.service
import projector.metrics
import schemas
import streams.metrics

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "k8s" / "components" / "monitoring"
DASHBOARD = REPO / "deploy" / "grafana" / "offshore-dashboard.json"
METRIC_MODULES = (streams.metrics, indexer.metrics, projector.metrics, keystore.service)

# Written by Prometheus itself for every target, not by our processes.
SCRAPE_SERIES = {"up": frozenset[str]()}
# Labels every scraped series carries (Prometheus Operator target labels), whatever the metric.
TARGET_LABELS = frozenset({"job", "pod", "instance", "namespace", "service", "container", "endpoint"})
PROMQL_FUNCTIONS = frozenset(
    {
        "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev",
        "rate", "irate", "increase", "delta", "deriv", "changes", "resets",
        "histogram_quantile", "time", "vector", "scalar", "abs", "clamp_min", "clamp_max",
        "absent", "absent_over_time", "max_over_time", "min_over_time", "avg_over_time", "timestamp",
    }
)  # fmt: skip
PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def _exported_series() -> dict[str, frozenset[str]]:
    """Series name -> label names, for everything the metric modules register.

    prometheus_client has no public way to list the label names of a labelled metric that has not
    been observed yet (it has no samples), so this reads the collectors' `_labelnames`.
    """
    assert all(module.__name__ for module in METRIC_MODULES)  # imported for their registrations
    series: dict[str, frozenset[str]] = {}
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
        "unknown": ("",),
    }
    collectors: dict[Any, list[str]] = getattr(REGISTRY, "_collector_to_names")  # noqa: B009 - see docstring
    for collector, names in collectors.items():
        if not any(name.startswith(("offshore_", "process_", "python_")) for name in names):
            continue  # only ours and prometheus_client's default process collectors are served
        labels = frozenset(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            for suffix in suffixes.get(family.type, ("",)):
                extra = {"le"} if suffix == "_bucket" else set()
                series[family.name + suffix] = labels | extra
    return series


EXPORTED = _exported_series()


@dataclass(frozen=True)
class Use:
    """One metric reference in a PromQL expression."""

    metric: str
    labels: frozenset[str]


def promql_uses(expr: str) -> tuple[list[Use], set[str], set[str]]:
    """(metric uses with their matcher labels, grouping labels, unknown identifiers) of an expression."""
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables ($__rate_interval, ${datasource})
    grouping: set[str] = set()
    for match in _GROUPING.finditer(text):
        grouping |= {label.strip() for label in match.group(2).split(",") if label.strip()}
    text = _GROUPING.sub(" ", text)
    uses: list[Use] = []
    for match in _SELECTOR.finditer(text):
        labels = frozenset(m.group(1) for m in _MATCHER.finditer(match.group(2)))
        if match.group(1):
            uses.append(Use(match.group(1), labels))
    text = _SELECTOR.sub(" ", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations
    unknown: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if name in PROMQL_KEYWORDS:
            continue
        if call:
            if name not in PROMQL_FUNCTIONS:
                unknown.add(name)
        else:
            uses.append(Use(name, frozenset()))
    return uses, grouping, unknown


def _check_expression(expr: str) -> list[str]:
    """Problems with one expression: unknown metrics, functions, or labels."""
    uses, grouping, unknown = promql_uses(expr)
    problems = [f"unknown function {name}" for name in sorted(unknown)]
    known = {**EXPORTED, **SCRAPE_SERIES}
    available: set[str] = set(TARGET_LABELS)
    for use in uses:
        if use.metric not in known:
            problems.append(f"metric {use.metric} is not exported by the code")
            continue
        bad = use.labels - known[use.metric] - TARGET_LABELS
        problems += [f"{use.metric} has no label {label}" for label in sorted(bad)]
        available |= known[use.metric]
    problems += [f"grouping by unknown label {label}" for label in sorted(grouping - available)]
    if not uses:
        problems.append("uses no metric")
    return problems


def _rules() -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text()) if d]
    spec: dict[str, Any] = doc["spec"]
    return spec


def _rule_exprs() -> Iterator[tuple[str, str]]:
    for group in _rules()["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def _dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: `make setup` installs Debian's prometheus (system-packages.txt)"
    return path


# ---------------------------------------------------------------- the checker itself


def test_registry_holds_every_offshore_metric_family() -> None:
    offshore = {name for name in EXPORTED if name.startswith("offshore_")}
    assert "offshore_indexer_lag_blocks" in offshore
    assert "offshore_request_to_settlement_seconds_bucket" in offshore
    assert "offshore_dead_letters_total" in offshore
    assert EXPORTED["offshore_dead_letters_total"] == {"stage"}
    assert EXPORTED["offshore_stage_duration_seconds_bucket"] == {"stage", "le"}
    assert "offshore_dead_letters" not in offshore  # counters are exported with _total only


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("offshore_indexer_lag_blocks > 5", None),
        ('sum by (stage) (rate(offshore_dead_letters_total{stage="x"}[5m]))', None),
        ("offshore_indexer_lag > 5", "metric offshore_indexer_lag is not exported by the code"),
        ('rate(offshore_dead_letters_total{reason="x"}[5m])', "offshore_dead_letters_total has no label reason"),
        ("sum by (reason) (rate(offshore_dead_letters_total[5m]))", "grouping by unknown label reason"),
        ("rate(offshore_dead_letters[5m])", "metric offshore_dead_letters is not exported by the code"),
        ("predict_linear(offshore_indexer_lag_blocks[5m], 60)", "unknown function predict_linear"),
        ("histogram_quantile(0.9, sum by (le) (rate(offshore_execution_fuel_bucket[$__rate_interval])))", None),
    ],
)
def test_expression_checker(expr: str, problem: str | None) -> None:
    problems = _check_expression(expr)
    assert problems == ([] if problem is None else [problem])


# ---------------------------------------------------------------- alert rules


def test_alert_rules_cover_the_required_signals() -> None:
    alerts = dict(_rule_exprs())
    required = {
        "OffshoreIndexerLagHigh": "offshore_indexer_lag_blocks",
        "OffshoreNoResolutions": 'offshore_settlement_outcomes_total{outcome="resolved"}',
        "OffshoreSettleFailures": 'offshore_dead_letters_total{stage="settle"}',
        "OffshoreDeadLettersIncreasing": "offshore_dead_letters_total",
        "OffshoreRequestToSettlementP99High": "offshore_request_to_settlement_seconds_bucket",
        "OffshoreYieldSlackLow": "offshore_yield_slack_blocks_bucket",
        "OffshoreCompileFailuresSpiking": 'offshore_request_failures_total{stage="compile"}',
        "OffshoreProjectorBehind": "offshore_projector_events_total",
        "OffshoreSettleBacklogHigh": "offshore_settle_backlog",
        "OffshoreStageExpiringRequests": "offshore_requests_expired_total",
    }
    for alert, needle in required.items():
        assert needle in alerts[alert], alert
    for group in _rules()["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alert_rules_use_only_exported_metrics_and_labels() -> None:
    problems = {name: p for name, expr in _rule_exprs() if (p := _check_expression(expr))}
    assert problems == {}


def test_label_values_in_rules_are_ones_the_code_emits() -> None:
    """Stages and outcomes in matchers must be values the code uses (a typo matches nothing, silently)."""
    emitters = (
        "streams/shell.py",
        "streams/reasons.py",
        "streams/compile/agent.py",
        "streams/execute/agent.py",
        "streams/settle/agent.py",
        "indexer/follower.py",
        "projector/_loop.py",
        "keystore/service.py",
    )
    sources = "\n".join((REPO / path).read_text() for path in emitters)
    for name, expr in _rule_exprs():
        for label, value in re.findall(r'\b(stage|outcome|type|direction)="([^"]+)"', expr):
            if label == "type":  # the indexer labels events by their class name
                assert isinstance(getattr(schemas, value, None), type), f"{name}: no event {value}"
            else:
                assert f'"{value}"' in sources, f"{name}: {label}={value} is never emitted"


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_rules()))
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = sum(len(g["rules"]) for g in _rules()["groups"])
    assert f"SUCCESS: {count} rules found" in proc.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(_rules()))
    shutil.copy(MONITORING / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    proc = subprocess.run(
        [_promtool(), "test", "rules", "alerts.test.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yaml").read_text()))
    assert len(tested) >= 2 and tested <= {name for name, _ in _rule_exprs()}


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against rules with a raised threshold must fail: they really evaluate."""
    spec = _rules()
    for group in spec["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "OffshoreIndexerLagHigh":
                rule["expr"] = rule["expr"].replace("> 30", "> 60")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(MONITORING / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    proc = subprocess.run(
        [_promtool(), "test", "rules", "alerts.test.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert "OffshoreIndexerLagHigh" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- dashboard


def test_dashboard_uses_only_exported_metrics_and_labels() -> None:
    exprs = list(_dashboard_exprs())
    assert len(exprs) >= 20
    problems = {title: p for title, expr in exprs if (p := _check_expression(expr))}
    assert problems == {}


def test_dashboard_shows_every_offshore_metric_family() -> None:
    used = {use.metric for _, expr in _dashboard_exprs() for use in promql_uses(expr)[0]}
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in EXPORTED if n.startswith("offshore_")}
    shown = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in used}
    assert families - shown == set()


def test_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    (variable,) = dashboard["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"]
            assert [t["refId"] for t in panel["targets"]] == [chr(65 + i) for i in range(len(panel["targets"]))]
