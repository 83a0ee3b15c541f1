"""Every rendered object of every overlay against the real schemas, strictly (unknown fields rejected).

- Core kinds: PyPI `kubernetes-validate` (Kubernetes' own OpenAPI schemas), strict mode, for the
  minimum Kubernetes we support and the newest the package ships.
- Custom resources: the operators' CRD `openAPIV3Schema`s (copied into crds/ from the operators'
  repositories; crds/SOURCES.json names repository, tag, commit and blob of each), for the oldest and
  newest operator version we support. A kind/version an operator does not serve is an error ("no
  matches for kind"), as `kubectl apply` reports it. The schemas are structural, so, like the API
  server with field validation Strict, a field the schema does not declare is rejected unless the
  schema says `x-kubernetes-preserve-unknown-fields`. CEL rules (`x-kubernetes-validations`) are
  evaluated with PyPI `cel-python`; transition rules (those reading `oldSelf`) apply only to updates,
  which a first apply is not, so they are not evaluated.
- metadata of custom resources is checked as an ObjectMeta by `kubernetes-validate`.

Each layer is shown to fail on a deliberately broken manifest.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
CRDS = Path(__file__).parent / "crds"
OVERLAYS = ("devnet", "prod")
# The minimum Kubernetes of deploy/README.md (user namespaces for the compile pod) and the newest
# kubernetes-validate ships.
KUBERNETES = ("1.33.0", "1.37.0")
# API group -> (operator directory under crds/, the oldest and newest versions we support).
OPERATORS = {
    "kafka.strimzi.io": ("strimzi", ("0.51.0", "1.2.0")),
    "postgresql.cnpg.io": ("cnpg", ("v1.24.0", "v1.30.0")),
    "keda.sh": ("keda", ("v2.12.0", "v2.20.2")),
    "monitoring.coreos.com": ("prometheus-operator", ("v0.93.0",)),
}

Obj = dict[str, Any]


# ---------------------------------------------------------------- the validators


@cache
def _core_validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """kubernetes-validate's strict schema of one kind, compiled once (its own `validate` reloads the
    ~4 MB definitions on every call: 60 ms per object)."""
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    directory = f"kubernetes-json-schema/v{version}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # as kubernetes_validate names files
    try:
        schema = utils.schema_contents(f"{directory}/{kind.lower()}-{group}.json", version)
    except FileNotFoundError:
        return None
    definitions = utils.schema_contents(f"{directory}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return validator


def core_errors(obj: Obj, version: str) -> list[str]:
    validator = _core_validator(version, obj["apiVersion"], obj["kind"])
    if validator is None:
        return [f"Kubernetes {version}: no schema for {obj['apiVersion']}/{obj['kind']}"]
    return [
        f"Kubernetes {version}: {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


def test_the_cached_core_validation_is_kubernetes_validate() -> None:
    """Our cached validator and kubernetes_validate.validate agree on a valid and a broken object."""
    good: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    bad = {**good, "dat": {}}
    for version in KUBERNETES:
        assert kubernetes_validate.validate(good, version, strict=True) and core_errors(good, version) == []
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, version, strict=True)
        assert len(core_errors(bad, version)) == 1


def _strict(schema: Obj, *, root: bool = False) -> Obj:
    """An openAPIV3Schema as a JSON schema that rejects what a structural schema would prune."""
    out = dict(schema)
    out.pop("x-kubernetes-validations", None)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    nullable = out.pop("nullable", False)
    if "properties" in out:
        out["properties"] = {name: _strict(sub) for name, sub in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(out["additionalProperties"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_strict(sub) for sub in out[key]]
    if root:  # apiVersion/kind are checked against the operator's index, metadata as an ObjectMeta
        out["properties"] = {**out.get("properties", {}), "apiVersion": {}, "kind": {}, "metadata": {}}
    if (
        out.get("type") == "object"
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if nullable and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@dataclass(frozen=True)
class Crd:
    where: str  # e.g. "strimzi 1.2.0 kafka.strimzi.io/v1/Kafka"
    schema: Obj

    @property
    def validator(self) -> jsonschema.Draft4Validator:
        return _validator(json.dumps(self.schema, sort_keys=True))

    def errors(self, obj: Obj) -> list[str]:
        found = [
            f"{self.where}: {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in self.validator.iter_errors(obj)
        ]
        return found + [f"{self.where}: {e}" for e in cel_errors(self.schema, obj, "")]


@cache
def _validator(schema_json: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_strict(json.loads(schema_json), root=True))


@cache
def _cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_errors(schema: Obj, value: Any, path: str) -> list[str]:
    """Evaluates every x-kubernetes-validations rule on the value it is attached to."""
    out = []
    for validation in schema.get("x-kubernetes-validations", []):
        rule = validation["rule"]
        if "oldSelf" in rule:  # a transition rule: only evaluated on update
            continue
        try:
            result = _cel_program(rule).evaluate({"self": celpy.json_to_cel(value)})
        except celpy.CELEvalError as exc:
            out.append(f"{path or '/'}: CEL rule {rule!r} failed to evaluate: {exc}")
            continue
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            out.append(f"{path or '/'}: {validation.get('message', 'CEL rule failed')} ({rule})")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, sub in value.items():
            if name in properties:
                out.extend(cel_errors(properties[name], sub, f"{path}/{name}"))
            elif isinstance(extra, dict):
                out.extend(cel_errors(extra, sub, f"{path}/{name}"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            out.extend(cel_errors(schema["items"], item, f"{path}/{index}"))
    return out


@cache
def _index(operator: str, version: str) -> dict[str, Obj]:
    index: dict[str, Obj] = json.loads((CRDS / operator / version / "index.json").read_text())
    return index


def crds_for(obj: Obj) -> list[Crd | str]:
    """The CRD schema of obj in each supported operator version, or why there is none."""
    group = obj["apiVersion"].split("/")[0]
    operator, versions = OPERATORS[group]
    out: list[Crd | str] = []
    for version in versions:
        entry = _index(operator, version).get(f"{obj['apiVersion']}/{obj['kind']}")
        if entry is None or not entry["served"]:
            out.append(f"{operator} {version}: no matches for kind {obj['kind']} in version {obj['apiVersion']}")
            continue
        schema = json.loads((CRDS / operator / version / entry["file"]).read_text())
        out.append(Crd(f"{operator} {version} {obj['apiVersion']}/{obj['kind']}", schema))
    return out


def is_core(obj: Obj) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


def validation_errors(obj: Obj) -> list[str]:
    """Every reason a current cluster would refuse obj."""
    if is_core(obj):
        return [e for version in KUBERNETES for e in core_errors(obj, version)]
    if obj["apiVersion"].split("/")[0] not in OPERATORS:
        return [f"no CRD schema for {obj['apiVersion']}/{obj['kind']} in tests/deploy/crds"]
    errors = []
    for crd in crds_for(obj):
        errors.extend([crd] if isinstance(crd, str) else crd.errors(obj))
    meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
    errors.extend(e.replace("ConfigMap", "metadata") for v in KUBERNETES for e in core_errors(meta, v))
    return errors


# ---------------------------------------------------------------- rendered overlays


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """`kubectl kustomize` of each overlay (tests/deploy/test_manifests.py checks our resolver agrees)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with its built-in kustomize) is part of the machine image but is missing")
    out = {}
    for overlay in OVERLAYS:
        proc = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        out[overlay] = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
    return out


def _objects(rendered: dict[str, list[Obj]]) -> Iterator[tuple[str, Obj]]:
    for overlay in OVERLAYS:
        for obj in rendered[overlay]:
            yield overlay, obj


def test_every_rendered_object_is_valid_for_every_supported_version(rendered: dict[str, list[Obj]]) -> None:
    failures = []
    kinds = set()
    for overlay, obj in _objects(rendered):
        kinds.add(obj["kind"])
        failures.extend(f"{overlay} {obj['kind']}/{obj['metadata']['name']}: {e}" for e in validation_errors(obj))
    assert failures == []
    # the custom resources really went through their operators' schemas
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "ScaledObject", "ServiceMonitor"} <= kinds


def _one(rendered: dict[str, list[Obj]], kind: str, overlay: str = "prod") -> Obj:
    return copy.deepcopy(next(o for o in rendered[overlay] if o["kind"] == kind))


def test_core_layer_rejects_an_unknown_field_and_a_wrong_type(rendered: dict[str, list[Obj]]) -> None:
    deployment = _one(rendered, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # typo of `resources`
    errors = validation_errors(deployment)
    assert len(errors) == 2 and all("'resource' was unexpected" in e for e in errors), errors  # 1.33 and 1.37
    deployment = _one(rendered, "Deployment")
    deployment["spec"]["replicas"] = "two"
    assert validation_errors(deployment)


def test_crd_layer_rejects_an_unknown_field_a_wrong_type_and_a_missing_required(
    rendered: dict[str, list[Obj]],
) -> None:
    kafka = _one(rendered, "Kafka")
    kafka["spec"]["kafka"]["listener"] = kafka["spec"]["kafka"]["listeners"]  # typo
    errors = validation_errors(kafka)
    assert any("'listener' was unexpected" in e and "strimzi 1.2.0" in e for e in errors), errors
    topic = _one(rendered, "KafkaTopic")
    topic["spec"]["partitions"] = "8"
    assert any("'8' is not of type 'integer'" in e for e in validation_errors(topic))
    cluster = _one(rendered, "Cluster")
    cluster["spec"]["storage"]["sise"] = "1Gi"
    errors = validation_errors(cluster)
    assert any("cnpg v1.24.0" in e and "'sise' was unexpected" in e for e in errors), errors
    monitor = _one(rendered, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    assert any("'intervall' was unexpected" in e for e in validation_errors(monitor))
    scaled = _one(rendered, "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5  # metadata values are strings
    errors = validation_errors(scaled)
    assert any("keda v2.12.0" in e and "5 is not of type 'string'" in e for e in errors), errors
    kafka = _one(rendered, "Kafka")
    del kafka["spec"]["kafka"]["listeners"]
    assert any("'listeners' is a required property" in e for e in validation_errors(kafka))


def test_preserve_unknown_fields_is_honoured(rendered: dict[str, list[Obj]]) -> None:
    """Kafka's `config` maps are free-form in the CRD: any broker property passes the schema."""
    kafka = _one(rendered, "Kafka")
    kafka["spec"]["kafka"]["config"]["some.future.broker.property"] = 1
    assert validation_errors(kafka) == []


def test_cel_layer_evaluates_the_operators_rules(rendered: dict[str, list[Obj]]) -> None:
    kafka = _one(rendered, "Kafka")
    kafka["spec"]["kafka"]["metricsConfig"] = {"type": "jmxPrometheusExporter"}  # structurally fine
    errors = validation_errors(kafka)
    assert errors and all("valueFrom property is required" in e for e in errors), errors
    scaled = _one(rendered, "ScaledObject")
    scaled["spec"]["minReplicaCount"] = 9  # > maxReplicaCount: a KEDA 2.20 rule, absent in 2.12
    errors = validation_errors(scaled)
    assert len(errors) == 1 and "keda v2.20.2" in errors[0], errors
    cluster = _one(rendered, "Cluster")
    cluster["spec"]["imageCatalogRef"] = {"apiGroup": "example.com", "kind": "ImageCatalog", "name": "x", "major": 16}
    assert any("postgresql.cnpg.io" in e for e in validation_errors(cluster))


def test_every_cel_rule_of_the_copied_schemas_compiles() -> None:
    """So no rule is silently skipped: all but the transition rules (oldSelf) are evaluated."""
    rules: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(v["rule"] for v in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in CRDS.rglob("*.json"):
        if path.name not in ("index.json", "SOURCES.json"):
            walk(json.loads(path.read_text()))
    assert len(rules) > 10
    for rule in rules:
        _cel_program(rule)
    assert [r for r in set(rules) if "oldSelf" in r] == ["self == oldSelf"]


def test_strimzi_1_serves_only_v1(rendered: dict[str, list[Obj]]) -> None:
    """Problem 3 of the issue: v1beta2 objects are "no matches for kind" on Strimzi 1.x."""
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic"):
        obj = _one(rendered, kind)
        assert obj["apiVersion"] == "kafka.strimzi.io/v1"
        obj["apiVersion"] = "kafka.strimzi.io/v1beta2"
        errors = validation_errors(obj)
        assert f"strimzi 1.2.0: no matches for kind {kind} in version kafka.strimzi.io/v1beta2" in errors


def test_custom_resource_metadata_is_an_object_meta(rendered: dict[str, list[Obj]]) -> None:
    topic = _one(rendered, "KafkaTopic")
    topic["metadata"]["label"] = {"x": "y"}
    assert any("'label' was unexpected" in e for e in validation_errors(topic))


def test_every_copied_schema_is_named_in_sources() -> None:
    sources = json.loads((CRDS / "SOURCES.json").read_text())
    named = {(s["operator"], s["ref"], s["kind"]) for s in sources}
    for operator, versions in OPERATORS.values():
        for version in versions:
            for key, entry in _index(operator, version).items():
                assert (CRDS / operator / version / entry["file"]).is_file(), key
                assert (operator, version, key.rsplit("/", 1)[1]) in named, key
