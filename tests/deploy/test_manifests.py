"""Rendered overlays: security, resources, probes, settings, secrets, topics, scaling, policies.

No cluster can run here, so the manifests are checked as rendered objects. The small kustomize
resolver below implements only what deploy/k8s uses (resources, components, strategic-merge patches
with an optional target, images, replicas, namespace) and refuses any other kustomization field, so
a feature it does not understand cannot be silently ignored. `kubectl kustomize` (kubectl ships in
the machine image; it is not a Debian package) renders the same overlays and the two must agree.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from offshore.settings import Settings
from projector import run_projector
from streams.kafka_profile import broker_profile
from streams.topics import ALL_TOPICS
from streams.worker import STAGES, PipelineConfig

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("devnet", "prod")

Obj = dict[str, Any]

_KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "images",
    "replicas",
    "namespace",
}
# Kinds that have no namespace (the namespace transformer leaves them alone).
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}
# Strategic-merge keys of the built-in lists our patches touch (from the Kubernetes OpenAPI schema).
# Lists anywhere else, and every list of a custom resource, are replaced whole, as kustomize does.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
_BUILTIN_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "autoscaling/v2"}


class KustomizeError(Exception):
    """The kustomization uses something this resolver does not support, or is inconsistent."""


def load_docs(path: Path) -> list[Obj]:
    """Every non-empty YAML document of a file."""
    with path.open() as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{path}: a document is not a mapping")
    return docs


def key(obj: Obj) -> tuple[str, str, str]:
    """Identity of a rendered object (kind, namespace, name)."""
    meta = obj.get("metadata", {})
    return (str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


def strategic_merge(base: Any, patch: Any, *, builtin: bool, field_name: str = "") -> Any:
    """Kubernetes strategic merge, reduced to what our patches need: maps merge, `null` deletes,
    lists of built-in kinds with a known merge key merge by that key, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value, builtin=builtin, field_name=name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and builtin and field_name in _MERGE_KEYS:
        merge_key = _MERGE_KEYS[field_name]
        merged_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            for index, existing in enumerate(merged_list):
                if existing.get(merge_key) == item.get(merge_key):
                    merged_list[index] = strategic_merge(existing, item, builtin=builtin)
                    break
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _pod_spec(obj: Obj) -> Obj | None:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        pod: Obj = spec["template"]["spec"]
        return pod
    return None


def containers(obj: Obj) -> list[Obj]:
    """Init and regular containers of a workload (empty for other kinds)."""
    pod = _pod_spec(obj)
    if pod is None:
        return []
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@dataclass
class Kustomizer:
    """Renders a kustomization directory into a list of objects."""

    seen: list[Path] = field(default_factory=list)

    def render(self, directory: Path) -> list[Obj]:
        return self._build(directory, expect="Kustomization")

    def _kustomization(self, directory: Path) -> Obj:
        path = directory / "kustomization.yaml"
        if not path.is_file():
            raise KustomizeError(f"{directory}: no kustomization.yaml")
        self.seen.append(path)
        (doc,) = load_docs(path)
        unknown = set(doc) - _KUSTOMIZATION_FIELDS
        if unknown:
            raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
        return doc

    def _build(self, directory: Path, *, expect: str) -> list[Obj]:
        kz = self._kustomization(directory)
        if kz.get("kind", "Kustomization") != expect:
            raise KustomizeError(f"{directory}: expected kind {expect}, got {kz.get('kind')}")
        objects: list[Obj] = []
        for entry in kz.get("resources", []):
            path = directory / entry
            if path.is_dir():
                objects.extend(self._build(path, expect="Kustomization"))
            elif path.is_file():
                self.seen.append(path)
                objects.extend(load_docs(path))
            else:
                raise KustomizeError(f"{directory}: missing resource {entry}")
            self._check_unique(objects, directory)
        for entry in kz.get("components", []):
            objects = self._apply_component(directory / entry, objects)
            self._check_unique(objects, directory)
        for patch in kz.get("patches", []):
            objects = self._apply_patch(directory, patch, objects)
        for image in kz.get("images", []):
            self._apply_image(image, objects)
        for replicas in kz.get("replicas", []):
            self._apply_replicas(replicas, objects)
        if "namespace" in kz:
            for obj in objects:
                if obj["kind"] not in _CLUSTER_SCOPED:
                    obj.setdefault("metadata", {})["namespace"] = kz["namespace"]
        return objects

    def _apply_component(self, directory: Path, objects: list[Obj]) -> list[Obj]:
        kz = self._kustomization(directory)
        if kz.get("kind") != "Component":
            raise KustomizeError(f"{directory}: a component must be kind Component")
        if set(kz) - {"apiVersion", "kind", "resources", "patches"}:
            raise KustomizeError(f"{directory}: unsupported component fields")
        objects = list(objects)
        for entry in kz.get("resources", []):
            path = directory / entry
            self.seen.append(path)
            objects.extend(load_docs(path))
        for patch in kz.get("patches", []):
            objects = self._apply_patch(directory, patch, objects)
        return objects

    def _apply_patch(self, directory: Path, spec: Obj, objects: list[Obj]) -> list[Obj]:
        if set(spec) - {"path", "target"}:
            raise KustomizeError(f"{directory}: only `path` and `target` patches are supported")
        path = directory / spec["path"]
        self.seen.append(path)
        (patch,) = load_docs(path)
        target = spec.get("target")
        if target is not None:
            if set(target) - {"kind", "name"}:
                raise KustomizeError(f"{path}: only kind/name targets are supported")
            selected = [
                i
                for i, obj in enumerate(objects)
                if obj["kind"] == target["kind"]
                and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
            ]
        else:
            selected = [
                i
                for i, obj in enumerate(objects)
                if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]
            ]
        if not selected:
            raise KustomizeError(f"{path}: patch matches no resource")
        result = list(objects)
        for index in selected:
            obj = objects[index]
            body = copy.deepcopy(patch)
            if target is not None:  # the patch's own identity is ignored when a target selects
                body["metadata"] = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
            merged = strategic_merge(obj, body, builtin=obj["apiVersion"] in _BUILTIN_GROUPS)
            merged["metadata"]["name"] = obj["metadata"]["name"]
            result[index] = merged
        return result

    @staticmethod
    def _apply_image(spec: Obj, objects: list[Obj]) -> None:
        matched = False
        for obj in objects:
            for container in containers(obj):
                name = container["image"].split("@")[0].rsplit(":", 1)[0]
                if name == spec["name"]:
                    container["image"] = f"{spec.get('newName', name)}:{spec['newTag']}"
                    matched = True
        if not matched:
            raise KustomizeError(f"image {spec['name']} is used by no container")

    @staticmethod
    def _apply_replicas(spec: Obj, objects: list[Obj]) -> None:
        hits = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == spec["name"]]
        if not hits:
            raise KustomizeError(f"replicas: no Deployment {spec['name']}")
        for obj in hits:
            obj["spec"]["replicas"] = spec["count"]

    @staticmethod
    def _check_unique(objects: list[Obj], directory: Path) -> None:
        keys = [key(o) for o in objects]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise KustomizeError(f"{directory}: duplicate resources {sorted(duplicates)}")


@dataclass(frozen=True)
class Rendered:
    """One rendered overlay."""

    name: str
    objects: list[Obj]
    files: frozenset[Path]

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        (obj,) = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        return obj

    def workloads(self) -> list[Obj]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "Job")]


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    out = {}
    for overlay in OVERLAYS:
        kustomizer = Kustomizer()
        objects = kustomizer.render(K8S / "overlays" / overlay)
        out[overlay] = Rendered(overlay, objects, frozenset(p.resolve() for p in kustomizer.seen))
    return out


@pytest.fixture(scope="session")
def kubectl_rendered() -> Callable[[str], list[Obj]]:
    """`kubectl kustomize` of an overlay (kubectl ships in the machine image, not from Debian)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with its built-in kustomize) is part of the machine image but is missing")

    def run(overlay: str) -> list[Obj]:
        proc = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]

    return run


# ---------------------------------------------------------------- checks

STAGE_DEPLOYMENTS = (
    "offshore-indexer",
    "offshore-compile",
    "offshore-execute",
    "offshore-settle",
    "offshore-projector",
)
# Secret -> the only workloads allowed to reference it (docs/design.md §6: each secret to the one process needing it).
SECRET_OWNERS = {
    "offshore-operator-keys": {"offshore-settle"},
    "offshore-keystore": {"offshore-execute"},
    "offshore-block-api": {"offshore-indexer"},
    "offshore-pg-app": {"offshore-db-migrate"},
    "offshore-projector-postgres": {"offshore-projector"},
    "offshore-devnet-genesis": {"offshore-devnet"},
}
SECRET_FIELDS = {name for name, info in Settings.model_fields.items() if "Secret" in str(info.annotation)} | {
    "postgres_dsn"
}
METRICS_PORT = 9102


def _overlays(rendered: dict[str, Rendered]) -> Iterator[Rendered]:
    yield from (rendered[name] for name in OVERLAYS)


def _env_names(container: Obj) -> list[str]:
    return [item["name"] for item in container.get("env", [])]


def _configmap_env(r: Rendered, container: Obj) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps (secrets go by key)"
        env.update(r.get("ConfigMap", source["configMapRef"]["name"])["data"])
    return env


def _secret_refs(obj: Obj) -> set[str]:
    """Every Secret a workload's pods can read: env, envFrom, volumes (including projected)."""
    pod = obj["spec"]["template"]["spec"]
    names = set()
    for container in containers(obj):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


# ---------------------------------------------------------------- the resolver itself


def test_resolver_matches_kubectl_kustomize(
    rendered: dict[str, Rendered], kubectl_rendered: Callable[[str], list[Obj]]
) -> None:
    for r in _overlays(rendered):
        theirs = {key(o): o for o in kubectl_rendered(r.name)}
        ours = {key(o): o for o in r.objects}
        assert sorted(ours) == sorted(theirs), r.name
        for k, obj in ours.items():
            assert obj == theirs[k], f"{r.name}: {k} differs from kubectl kustomize"


def test_resolver_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\nconfigMapGenerator: []\n")
    with pytest.raises(KustomizeError, match="unsupported fields"):
        Kustomizer().render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\npatches: [{path: p.yaml}]\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {x: '2'}\n")
    with pytest.raises(KustomizeError, match="matches no resource"):
        Kustomizer().render(tmp_path)


def test_strategic_merge_merges_containers_by_name_and_replaces_custom_resource_lists() -> None:
    base = {"containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}, {"name": "b"}]}
    patch = {"containers": [{"name": "a", "env": [{"name": "F", "value": "2"}]}]}
    merged = strategic_merge(copy.deepcopy(base), patch, builtin=True)
    assert merged["containers"][0] == {
        "name": "a",
        "image": "x",
        "env": [{"name": "E", "value": "1"}, {"name": "F", "value": "2"}],
    }
    assert merged["containers"][1] == {"name": "b"}
    assert strategic_merge(base, patch, builtin=False) == patch


def test_every_yaml_and_json_file_under_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(files) > 30
    for path in files:
        with path.open() as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d is not None]
        assert docs, f"{path} is empty"
    dashboards = list(DEPLOY.rglob("*.json"))
    assert dashboards
    for path in dashboards:
        json.loads(path.read_text())


def test_every_manifest_file_is_used_by_an_overlay(rendered: dict[str, Rendered]) -> None:
    """A file no overlay reaches is dead configuration (unit-test inputs excepted)."""
    used = set().union(*(r.files for r in rendered.values()))
    manifests = {p.resolve() for p in K8S.rglob("*.yaml") if not p.name.endswith(".test.yaml")}
    assert manifests - used == set()


def test_patches_are_named_after_their_target() -> None:
    for kz_path in K8S.rglob("kustomization.yaml"):
        (kz,) = [d for d in yaml.safe_load_all(kz_path.read_text()) if d]
        for patch in kz.get("patches", []):
            name = Path(patch["path"]).name
            assert name.endswith(".patch.yaml"), name
            (doc,) = [d for d in yaml.safe_load_all((kz_path.parent / patch["path"]).read_text()) if d]
            kind = patch.get("target", {}).get("kind", doc["kind"]).lower()
            targets = {kind, kind.removeprefix("kafka") + "s"}
            if "target" not in patch:
                targets.add(doc["metadata"]["name"].removeprefix("offshore-"))
            assert any(name.startswith(t + "-") and len(name) > len(t) + 12 for t in targets), (
                f"{kz_path.parent.name}/{name}: expected <target>-<change>.patch.yaml with target in {sorted(targets)}"
            )


def test_every_component_folder_is_a_component_with_a_readme() -> None:
    folders = sorted(p for p in (K8S / "components").iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["autoscaling", "monitoring", "network-policies", "pdb"]
    for folder in folders:
        (kz,) = [d for d in yaml.safe_load_all((folder / "kustomization.yaml").read_text()) if d]
        assert kz["kind"] == "Component"
        readme = (folder / "README.md").read_text()
        assert "enable" in readme.lower() and "verify" in readme.lower(), folder


# ---------------------------------------------------------------- containers


def test_every_container_is_non_root_read_only_and_drops_capabilities(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        for obj in r.workloads():
            pod = obj["spec"]["template"]["spec"]
            assert pod.get("automountServiceAccountToken") is False, obj["metadata"]["name"]
            for c in containers(obj):
                where = f"{r.name}/{obj['metadata']['name']}/{c['name']}"
                sc = c.get("securityContext", {})
                assert sc.get("runAsNonRoot", pod["securityContext"].get("runAsNonRoot")) is True, where
                assert pod["securityContext"].get("runAsUser", 0) != 0, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
                assert not sc.get("capabilities", {}).get("add"), where
                assert sc.get("privileged") is not True, where


def test_only_compile_relaxes_seccomp_and_proc_and_only_inside_a_user_namespace(
    rendered: dict[str, Rendered],
) -> None:
    for r in _overlays(rendered):
        for obj in r.workloads():
            pod = obj["spec"]["template"]["spec"]
            for c in containers(obj):
                sc = c.get("securityContext", {})
                relaxed = (
                    sc.get("seccompProfile", pod["securityContext"].get("seccompProfile", {})).get("type")
                    != "RuntimeDefault"
                    or sc.get("procMount", "Default") != "Default"
                )
                if obj["metadata"]["name"] == "offshore-compile":
                    assert relaxed and pod["hostUsers"] is False
                else:
                    assert not relaxed, f"{obj['metadata']['name']}/{c['name']}"


def test_every_container_has_requests_and_limits(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        for obj in r.workloads():
            for c in containers(obj):
                res = c.get("resources", {})
                for kind in ("requests", "limits"):
                    assert set(res.get(kind, {})) >= {"cpu", "memory"}, f"{obj['metadata']['name']}/{c['name']}"


def _quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|)", str(text))
    assert match, text
    return float(match.group(1)) * units[match.group(2)]


def test_requests_never_exceed_limits(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        for obj in r.workloads():
            for c in containers(obj):
                for kind in ("cpu", "memory"):
                    req, lim = c["resources"]["requests"][kind], c["resources"]["limits"][kind]
                    assert _quantity(req) <= _quantity(lim), f"{obj['metadata']['name']}: {kind} {req} > {lim}"


def test_long_running_containers_probe_metrics_and_jobs_have_a_deadline(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        for obj in r.workloads():
            if obj["kind"] == "Job":
                assert obj["spec"]["activeDeadlineSeconds"] > 0
                continue
            for c in obj["spec"]["template"]["spec"]["containers"]:
                where = f"{r.name}/{obj['metadata']['name']}"
                for probe in ("readinessProbe", "livenessProbe"):
                    assert "httpGet" in c.get(probe, {}), f"{where}: {probe}"
                if obj["metadata"]["name"] in STAGE_DEPLOYMENTS:
                    env = _configmap_env(r, c)
                    assert int(env["OFFSHORE_METRICS_PORT"]) == METRICS_PORT
                    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                    assert ports == {"metrics": METRICS_PORT}, where
                    for probe in ("readinessProbe", "livenessProbe"):
                        assert c[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}, where


def test_writable_paths_are_volumes(rendered: dict[str, Rendered]) -> None:
    """Read-only root: /tmp everywhere, and the state dir where a process writes it, are volumes."""
    for r in _overlays(rendered):
        for obj in r.workloads():
            volumes = {v["name"]: v for v in obj["spec"]["template"]["spec"].get("volumes", [])}
            for c in obj["spec"]["template"]["spec"]["containers"]:
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                assert mounts.get("/tmp") and "emptyDir" in volumes[mounts["/tmp"]], obj["metadata"]["name"]
                if obj["metadata"]["name"] in ("offshore-indexer", "offshore-compile", "offshore-execute"):
                    assert "/var/lib/offshore" in mounts
                if obj["metadata"]["name"] in ("offshore-compile", "offshore-execute", "offshore-settle"):
                    assert "/var/lib/offshore" in mounts  # Faust's data dir lives under the state dir


def test_images_come_from_the_overlay(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        images = {c["image"] for o in r.workloads() for c in containers(o)}
        assert len(images) == 1, images
        assert images.pop().startswith("registry.example.com/near-offshore/offshore:")


def test_stage_commands_are_real_cli_commands(rendered: dict[str, Rendered]) -> None:
    from devnet.__main__ import parse as parse_devnet
    from offshore.cli import build_parser

    parser = build_parser()
    for r in _overlays(rendered):
        for obj in r.workloads():
            for c in obj["spec"]["template"]["spec"]["containers"]:
                if c["args"][:1] == ["devnet"]:  # `offshore devnet` hands its options to the devnet's parser
                    parse_devnet(c["args"][1:])
                    continue
                args = parser.parse_args(c["args"])
                assert callable(args.handler)


# ---------------------------------------------------------------- settings and secrets


def test_every_env_var_is_a_settings_field(rendered: dict[str, Rendered]) -> None:
    fields = {f"OFFSHORE_{name.upper()}" for name in Settings.model_fields}
    for r in _overlays(rendered):
        cm = r.get("ConfigMap", "offshore-config")  # the settings (offshore-kafka-metrics is the brokers')
        assert set(cm["data"]) <= fields, set(cm["data"]) - fields
        for obj in r.workloads():
            for c in containers(obj):
                names = set(_env_names(c)) | set(_configmap_env(r, c))
                assert names <= fields, f"{obj['metadata']['name']}: {names - fields}"


def test_configmap_values_are_valid_settings(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        data = r.get("ConfigMap", "offshore-config")["data"]
        values = {name.removeprefix("OFFSHORE_").lower(): value for name, value in data.items()}
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        assert settings.metrics_port == METRICS_PORT
        assert str(settings.state_dir) == "/var/lib/offshore"
        assert settings.metrics_host == "0.0.0.0"  # probes and Prometheus reach the pod IP
        profile = broker_profile(settings)
        assert profile.name == "production" and not profile.creates_topics
        kafka = r.get("Kafka", "offshore")["spec"]["kafka"]["config"]
        # replication end to end: settings, broker defaults, every topic
        assert profile.replication_factor == kafka["default.replication.factor"]
        for topic in r.of_kind("KafkaTopic"):
            assert topic["spec"]["replicas"] == profile.replication_factor
            assert topic["spec"]["config"]["min.insync.replicas"] == kafka["min.insync.replicas"]
    prod = rendered["prod"]
    assert prod.get("Kafka", "offshore")["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert (
        broker_profile(
            Settings(
                _env_file=None,
                kafka_bootstrap="x:9092",
                kafka_replication_factor=prod.get("ConfigMap", "offshore-config")["data"][
                    "OFFSHORE_KAFKA_REPLICATION_FACTOR"
                ],
            )  # type: ignore[call-arg]
        ).replication_factor
        == 3
    )


def test_secrets_are_referenced_never_inlined_and_only_where_allowed(rendered: dict[str, Rendered]) -> None:
    secret_env = {f"OFFSHORE_{name.upper()}" for name in SECRET_FIELDS}
    for r in _overlays(rendered):
        assert r.of_kind("Secret") == [], "Secrets are created by the operator of the cluster, never shipped"
        for cm in r.of_kind("ConfigMap"):
            assert not set(cm["data"]) & secret_env, f"secret settings in ConfigMap {cm['metadata']['name']}"
        for obj in r.workloads():
            name = obj["metadata"]["name"]
            for c in containers(obj):
                for item in c.get("env", []):
                    if item["name"] in secret_env:
                        assert "secretKeyRef" in item.get("valueFrom", {}), f"{name}: {item['name']} inlined"
            for secret in _secret_refs(obj):
                assert name in SECRET_OWNERS.get(secret, set()), f"{r.name}: {name} must not see Secret {secret}"


def test_each_secret_reaches_exactly_its_owner(rendered: dict[str, Rendered]) -> None:
    prod = rendered["prod"]
    seen = {obj["metadata"]["name"]: _secret_refs(obj) for obj in prod.workloads()}
    assert seen["offshore-settle"] == {"offshore-operator-keys"}
    assert seen["offshore-execute"] == {"offshore-keystore"}
    assert seen["offshore-indexer"] == {"offshore-block-api"}
    assert seen["offshore-compile"] == set()
    assert seen["offshore-projector"] == {"offshore-projector-postgres"}
    assert seen["offshore-db-migrate"] == {"offshore-pg-app"}


def test_overlay_endpoints(rendered: dict[str, Rendered]) -> None:
    devnet = rendered["devnet"].get("ConfigMap", "offshore-config")["data"]
    prod = rendered["prod"].get("ConfigMap", "offshore-config")["data"]
    devnet_svc = rendered["devnet"].get("Service", "offshore-devnet")
    assert (
        devnet["OFFSHORE_NEAR_RPC_URL"]
        == f"http://offshore-devnet.offshore-devnet.svc:{devnet_svc['spec']['ports'][0]['port']}"
    )
    assert devnet["OFFSHORE_BLOCK_API_URL"] == devnet["OFFSHORE_NEAR_RPC_URL"] + "/v0"
    assert prod["OFFSHORE_NEAR_RPC_URL"].startswith("https://") and "mainnet" in prod["OFFSHORE_NEAR_RPC_URL"]
    assert "neardata" in prod["OFFSHORE_BLOCK_API_URL"] and prod["OFFSHORE_BLOCK_API_URL"].endswith("/v0")
    for r in _overlays(rendered):
        data = r.get("ConfigMap", "offshore-config")["data"]
        namespace = r.get("ConfigMap", "offshore-config")["metadata"]["namespace"]
        assert data["OFFSHORE_KAFKA_BOOTSTRAP"] == f"offshore-kafka-bootstrap.{namespace}.svc:9092"
        assert data["OFFSHORE_ALLOW_FILE_URLS"] == "false"
    assert rendered["prod"].of_kind("Deployment") and not [
        d for d in rendered["prod"].of_kind("Deployment") if d["metadata"]["name"] == "offshore-devnet"
    ]


# ---------------------------------------------------------------- components of the platform


def test_indexer_is_a_singleton_with_its_checkpoint_on_a_volume(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        indexer = r.get("Deployment", "offshore-indexer")
        assert indexer["spec"]["replicas"] == 1
        assert indexer["spec"]["strategy"] == {"type": "Recreate"}
        (state,) = [v for v in indexer["spec"]["template"]["spec"]["volumes"] if v["name"] == "state"]
        pvc = r.get("PersistentVolumeClaim", state["persistentVolumeClaim"]["claimName"])
        assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
        data = r.get("ConfigMap", "offshore-config")["data"]
        (mount,) = [
            m for m in indexer["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "state"
        ]
        assert mount["mountPath"] == data["OFFSHORE_STATE_DIR"]  # checkpoint: <state>/indexer/checkpoint.json


def test_artifact_store_is_shared_and_module_cache_is_private(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        state_dir = r.get("ConfigMap", "offshore-config")["data"]["OFFSHORE_STATE_DIR"]
        claims = {}
        for name in ("offshore-compile", "offshore-execute"):
            pod = r.get("Deployment", name)["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod["volumes"]}
            mounts = {m["mountPath"]: volumes[m["name"]] for m in pod["containers"][0]["volumeMounts"]}
            artifacts = mounts[f"{state_dir}/artifacts"]  # PipelineConfig: store root = <state>/artifacts
            claims[name] = artifacts["persistentVolumeClaim"]["claimName"]
            assert "emptyDir" in mounts[state_dir]  # <state>/modules and <state>/faust: this pod only
        assert claims["offshore-compile"] == claims["offshore-execute"]
        pvc = r.get("PersistentVolumeClaim", claims["offshore-compile"])
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
        others = [
            o["metadata"]["name"]
            for o in r.workloads()
            if o["metadata"]["name"] not in claims
            and any(
                v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"]
                for v in o["spec"]["template"]["spec"].get("volumes", [])
            )
        ]
        assert others == []


def test_kafka_topics_equal_the_topic_registry(rendered: dict[str, Rendered]) -> None:
    expected = {t.name: (t.partitions, t.config()) for t in ALL_TOPICS}
    for r in _overlays(rendered):
        actual = {}
        for kt in r.of_kind("KafkaTopic"):
            assert kt["metadata"]["labels"]["strimzi.io/cluster"] == r.get("Kafka", "offshore")["metadata"]["name"]
            spec = kt["spec"]
            config = {k: str(v) for k, v in spec["config"].items() if k in ("cleanup.policy", "retention.ms")}
            actual[spec.get("topicName", kt["metadata"]["name"])] = (spec["partitions"], config)
            replicas = r.get("KafkaNodePool", "dual-role")["spec"]["replicas"]
            assert spec["replicas"] <= replicas and int(spec["config"]["min.insync.replicas"]) <= spec["replicas"]
        assert actual == expected, r.name


def test_dns_egress_reaches_kube_dns_and_node_local_dns(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        policy = r.get("NetworkPolicy", "offshore-allow-dns")
        peers = [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]
        assert {"ipBlock": {"cidr": NODE_LOCAL_DNS}} in peers
        assert any(p.get("podSelector", {}).get("matchLabels") == {"k8s-app": "kube-dns"} for p in peers)
        for rule in policy["spec"]["egress"]:
            assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


# Kafka versions Strimzi supports (strimzi-kafka-operator kafka-versions.yaml; 4.2.0 was added and 4.0.x
# dropped by PR #12430, merged before 0.51.0; main after 1.2 lists 4.2.0 and 4.3.0). The pin must be in both.
SUPPORTED_KAFKA = {"0.51": {"4.1.0", "4.1.1", "4.2.0"}, "1.2": {"4.2.0", "4.3.0"}}


def test_kafka_version_is_pinned_to_one_every_supported_strimzi_runs(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        version = r.get("Kafka", "offshore")["spec"]["kafka"]["version"]
        assert all(version in supported for supported in SUPPORTED_KAFKA.values()), version
        for kind in ("Kafka", "KafkaNodePool", "KafkaTopic"):
            assert {o["apiVersion"] for o in r.of_kind(kind)} == {"kafka.strimzi.io/v1"}


def test_kafka_is_kraft_and_replication_fits_the_node_pool(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        kafka = r.get("Kafka", "offshore")
        assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
        pool = r.get("KafkaNodePool", "dual-role")
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "offshore"
        assert set(pool["spec"]["roles"]) == {"controller", "broker"}
        config = kafka["spec"]["kafka"]["config"]
        nodes = pool["spec"]["replicas"]
        assert config["offsets.topic.replication.factor"] <= nodes
        assert config["min.insync.replicas"] <= config["default.replication.factor"] <= nodes
        bootstrap = r.get("ConfigMap", "offshore-config")["data"]["OFFSHORE_KAFKA_BOOTSTRAP"]
        port = next(lst["port"] for lst in kafka["spec"]["kafka"]["listeners"] if not lst["tls"])
        assert bootstrap.startswith(f"{kafka['metadata']['name']}-kafka-bootstrap.") and bootstrap.endswith(f":{port}")
    assert rendered["prod"].get("KafkaNodePool", "dual-role")["spec"]["replicas"] == 3


def test_postgres_cluster_and_its_secrets(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        cluster = r.get("Cluster", "offshore-pg")
        assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
        owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
        assert owner == "offshore"  # CNPG's `<cluster>-app` secret is this owner's: migrations run as owner
        roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
        assert {name: (r["inRoles"], r["login"], r["passwordSecret"]["name"]) for name, r in roles.items()} == {
            "projector": (["offshore_writer"], True, "offshore-projector-postgres"),
            "analyst": (["offshore_analyst"], True, "offshore-analyst-postgres"),
        }
        # the owner has no CREATEROLE on CNPG: the groups exist before any migration (postInitSQL)
        post_init = " ".join(cluster["spec"]["bootstrap"]["initdb"]["postInitSQL"])
        for group in ("offshore_writer", "offshore_analyst"):
            assert f"CREATE ROLE {group} NOLOGIN" in post_init
    assert rendered["prod"].get("Cluster", "offshore-pg")["spec"]["instances"] >= 3


def test_autoscaling_follows_the_consumer_groups_and_partitions(rendered: dict[str, Rendered]) -> None:
    prod = rendered["prod"]
    prefix = PipelineConfig(bootstrap="", data_dir=Path(), rpc_url="", contract_id="").app_prefix
    groups = {f"offshore-{stage}": f"{prefix}-{stage}" for stage in STAGES}
    groups["offshore-projector"] = inspect.signature(run_projector).parameters["group_id"].default
    assert groups == {
        "offshore-compile": "offshore-compile",
        "offshore-execute": "offshore-execute",
        "offshore-settle": "offshore-settle",
        "offshore-projector": "offshore-projector",
    }
    partitions = {t.name: t.partitions for t in ALL_TOPICS}
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in prod.of_kind("ScaledObject")}
    assert set(scaled) == set(groups)
    for target, so in scaled.items():
        assert prod.get("Deployment", target)
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
        bound = max(partitions.values())
        for trigger in so["spec"]["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["consumerGroup"] == groups[target]
            assert meta["bootstrapServersFromEnv"] == "OFFSHORE_KAFKA_BOOTSTRAP"
            if "topic" in meta:
                assert meta["topic"] in partitions
                bound = min(bound, partitions[meta["topic"]]) if len(so["spec"]["triggers"]) == 1 else bound
        assert so["spec"]["maxReplicaCount"] <= bound == 8
    # Replicas of settle share the operator keys and race for nonces (deploy/k8s/components/autoscaling).
    assert scaled["offshore-settle"]["spec"]["maxReplicaCount"] == 1
    # KEDA's HPA owns the count: a `replicas:` in the manifest would be re-applied against it.
    for target in scaled:
        assert "replicas" not in prod.get("Deployment", target)["spec"], target
    assert "replicas" in rendered["devnet"].get("Deployment", "offshore-compile")["spec"]  # no KEDA there


def test_pdbs_select_stage_deployments_and_allow_drains(rendered: dict[str, Rendered]) -> None:
    prod = rendered["prod"]
    pdbs = prod.of_kind("PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in pdbs} == {
        "offshore-compile",
        "offshore-execute",
        "offshore-settle",
        "offshore-projector",
    }
    for pdb in pdbs:
        deployment = prod.get("Deployment", pdb["metadata"]["name"])
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


# Labels the operators put on the pods they create, and the metrics ports they open (Strimzi: brokers
# with `metricsConfig` and the Kafka Exporter serve `tcp-prometheus` 9404; CloudNativePG instances
# serve `metrics` 9187).
OPERATOR_PODS = {
    "offshore-kafka-metrics": (
        {"strimzi.io/cluster": "offshore", "strimzi.io/kind": "Kafka", "strimzi.io/name": "offshore-kafka"},
        9404,
    ),
    "offshore-kafka-exporter-metrics": (
        {"strimzi.io/cluster": "offshore", "strimzi.io/kind": "Kafka", "strimzi.io/name": "offshore-kafka-exporter"},
        9404,
    ),
    "offshore-pg-metrics": ({"cnpg.io/cluster": "offshore-pg", "cnpg.io/podRole": "instance"}, 9187),
}


def test_service_monitors_scrape_the_operators_exporters(rendered: dict[str, Rendered]) -> None:
    prod = rendered["prod"]
    kafka = prod.get("Kafka", "offshore")["spec"]
    metrics = kafka["kafka"]["metricsConfig"]["valueFrom"]["configMapKeyRef"]
    rules = yaml.safe_load(prod.get("ConfigMap", metrics["name"])["data"][metrics["key"]])
    assert rules["rules"] and all(re.compile(rule["pattern"]) for rule in rules["rules"])
    assert "kafkaExporter" in kafka
    ingress_ports = {
        int(port["port"])
        for policy in prod.of_kind("NetworkPolicy")
        for rule in policy["spec"].get("ingress", [])
        if any(
            p.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "monitoring"}
            for p in rule["from"]
        )
        for port in rule["ports"]
    }
    for name, (pod_labels, port) in OPERATOR_PODS.items():
        service = prod.get("Service", name)
        monitor = prod.get("ServiceMonitor", name)
        assert service["spec"]["selector"].items() <= pod_labels.items()
        (service_port,) = service["spec"]["ports"]
        assert service_port["targetPort"] == service_port["port"] == port
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == [service_port["name"]]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert port in ingress_ports  # the default deny lets Prometheus in


def test_service_monitors_scrape_every_stage_service(rendered: dict[str, Rendered]) -> None:
    prod = rendered["prod"]
    monitors = {
        m["metadata"]["name"]: m for m in prod.of_kind("ServiceMonitor") if m["metadata"]["name"] not in OPERATOR_PODS
    }
    assert set(monitors) == set(STAGE_DEPLOYMENTS)
    for name, monitor in monitors.items():
        service = prod.get("Service", name)
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        deployment = prod.get("Deployment", name)
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
        assert service["spec"]["ports"][0]["port"] == METRICS_PORT


# ---------------------------------------------------------------- network policies


def _selects(policy: Obj, labels: dict[str, str]) -> bool:
    wanted: dict[str, str] = policy["spec"]["podSelector"].get("matchLabels", {})
    return wanted.items() <= labels.items()


def _egress(r: Rendered, pod_labels: dict[str, str]) -> list[Obj]:
    rules: list[Obj] = []
    for policy in r.of_kind("NetworkPolicy"):
        if "Egress" in policy["spec"]["policyTypes"] and _selects(policy, pod_labels):
            rules.extend(policy["spec"].get("egress", []))
    return rules


NODE_LOCAL_DNS = "169.254.20.10/32"  # NodeLocal DNSCache's link-local address (a host-network pod)


def _destinations(rules: list[Obj]) -> set[tuple[str, int]]:
    """(peer, port) pairs: peer is `kafka`, `postgres`, `devnet`, `dns`, or `internet`."""
    out = set()
    for rule in rules:
        for peer in rule["to"]:
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            if peer.get("ipBlock", {}).get("cidr") == NODE_LOCAL_DNS:
                kind = "dns"
            elif "ipBlock" in peer:
                assert peer["ipBlock"]["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in peer["ipBlock"]["except"]
                kind = "internet"
            elif labels.get("strimzi.io/cluster"):
                kind = "kafka"
            elif labels.get("cnpg.io/cluster"):
                kind = "postgres"
            elif labels.get("app.kubernetes.io/name") == "offshore-devnet":
                kind = "devnet"
            elif labels.get("k8s-app") == "kube-dns":
                kind = "dns"
            else:
                raise AssertionError(f"unexpected egress peer {peer}")
            for port in rule["ports"]:
                out.add((kind, int(port["port"])))
    return out


def test_network_policies_allow_each_component_only_what_it_needs(rendered: dict[str, Rendered]) -> None:
    dns = {("dns", 53)}
    kafka = {("kafka", 9092)}
    expected = {
        "offshore-indexer": dns | kafka | {("internet", 443), ("devnet", 3030)},  # block API
        "offshore-compile": dns | kafka | {("internet", 443)},  # git
        "offshore-execute": dns | kafka | {("internet", 443), ("devnet", 3030)},  # NEAR RPC
        "offshore-settle": dns | kafka | {("internet", 443), ("devnet", 3030)},  # NEAR RPC
        "offshore-projector": dns | kafka | {("postgres", 5432)},
        "offshore-db-migrate": dns | {("postgres", 5432)},
        "offshore-devnet": dns,
    }
    for r in _overlays(rendered):
        deny = [
            p
            for p in r.of_kind("NetworkPolicy")
            if p["spec"]["policyTypes"] == ["Egress"] and not p["spec"].get("egress")
        ]
        assert deny, "no default-deny egress policy"
        deny_ingress = [
            p for p in r.of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
        ]
        assert deny_ingress and deny_ingress[0]["spec"]["policyTypes"] == ["Ingress"]
        for obj in r.workloads():
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert any(_selects(p, labels) for p in deny), obj["metadata"]["name"]
            assert _destinations(_egress(r, labels)) == expected[obj["metadata"]["name"]], obj["metadata"]["name"]


def test_kafka_listener_admits_only_offshore_pods_and_keda(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        for listener in r.get("Kafka", "offshore")["spec"]["kafka"]["listeners"]:
            peers = listener["networkPolicyPeers"]
            assert {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "offshore"}}} in peers
            assert all("podSelector" in p or "namespaceSelector" in p for p in peers)
        for obj in r.workloads():
            assert obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "offshore"


def _values(tree: Any) -> Iterator[Any]:
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _values(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _values(value)
    else:
        yield tree


def test_namespaced_objects_land_in_the_overlay_namespace(rendered: dict[str, Rendered]) -> None:
    for r in _overlays(rendered):
        (namespace,) = r.of_kind("Namespace")
        for obj in r.objects:
            if obj["kind"] != "Namespace":
                assert obj["metadata"]["namespace"] == namespace["metadata"]["name"], key(obj)
        text = " ".join(str(v) for o in r.objects for v in _values(o))
        other = {"devnet": "offshore.svc", "prod": "offshore-devnet.svc"}[r.name]
        assert other not in text


# ---------------------------------------------------------------- the image


def _dockerfile_runtime_stage() -> str:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    assert [s.split()[0] for s in stages[1:]] == ["python:3.11-slim-bookworm", "python:3.11-slim-bookworm"]
    return stages[-1]


def test_dockerfile_runtime_matches_the_manifests(rendered: dict[str, Rendered]) -> None:
    """The image cannot be built here (no container engine); it must at least agree with the manifests."""
    runtime = _dockerfile_runtime_stage()
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert re.search(r'^ENTRYPOINT \["offshore"\]$', runtime, re.M)
    for r in _overlays(rendered):
        for obj in r.workloads():
            pod = obj["spec"]["template"]["spec"]["securityContext"]
            assert (pod["runAsUser"], pod["runAsGroup"]) == (10001, 10001)
    devnet = rendered["devnet"].get("Deployment", "offshore-devnet")
    (deploy_arg,) = [
        a for a in devnet["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--deploy=")
    ]
    wasm = deploy_arg.split("=", 2)[2].split(":", 1)[0]
    assert f" {wasm}\n" in runtime  # COPY --from=contract ... <path>


def test_dockerfile_installs_what_the_processes_run() -> None:
    runtime = _dockerfile_runtime_stage()
    install = re.search(r"apt-get install -y --no-install-recommends((?:.|\n)*?)&&", runtime)
    assert install
    packages = set(install.group(1).replace("\\", " ").split()) - {"ca-certificates"}
    listed = {
        line.strip()
        for line in (REPO / "system-packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert packages <= listed
    assert {"git", "bubblewrap", "clang", "lld", "wasi-libc", "rustc", "libstd-rust-dev-wasm32"} <= packages
    assert "postgresql" not in packages and "prometheus" not in packages
    copied = set(re.findall(r"^COPY (\w+) \./\1$", runtime, re.M))
    pyproject = (REPO / "pyproject.toml").read_text()
    include = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert include
    assert copied == {name.strip().strip('"').rstrip("*") for name in include.group(1).split(",")}
