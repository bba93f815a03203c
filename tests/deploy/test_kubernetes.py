"""The kustomize overlays render, every Kubernetes object validates against the Kubernetes schemas, and the objects
agree with each other (probes, ports, selectors, secrets, annotations)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.render import (
    DEPLOY,
    OVERLAYS,
    UnsupportedKustomization,
    app_container,
    identity,
    kustomize_command,
    objects,
    only,
    pod_specs,
    render_kustomize,
    render_lite,
)

# The oldest Kubernetes minor a Dapr 1.17 control plane supports, and the newest schema the validator ships.
K8S_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
SECRET_NAME = "docline-secrets"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_unique_objects_in_its_namespace(overlay: str) -> None:
    objs = objects(overlay)
    ids = [identity(o) for o in objs]
    assert len(ids) == len(set(ids))
    namespaces = {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"}
    (namespace,) = namespaces
    assert only(overlay, "Namespace", namespace)
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"Component", "Configuration", "Resiliency"} <= kinds


@pytest.mark.skipif(kustomize_command() is None, reason="no kustomize or kubectl on PATH to compare with")
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_lite_renderer_agrees_with_kustomize(overlay: str) -> None:
    real = {identity(o): o for o in render_kustomize(OVERLAYS[overlay])}
    lite = {identity(o): o for o in render_lite(OVERLAYS[overlay])}
    assert real == lite


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_kubernetes_object_validates_against_the_schemas(overlay: str, version: str) -> None:
    checked = 0
    for obj in objects(overlay):
        if obj["apiVersion"].startswith("dapr.io/"):
            continue  # Dapr's CRDs: tests/deploy/test_dapr.py
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 7


def test_the_validator_rejects_what_the_api_server_would() -> None:
    deployment = only("prod", "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    deployment = only("prod", "Deployment")
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_deployment_carries_the_dapr_annotations(overlay: str) -> None:
    annotations = only(overlay, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == "docline"
    ports = {p["name"]: p["containerPort"] for p in app_container(overlay)["ports"]}
    assert int(annotations["dapr.io/app-port"]) == ports["http"]
    assert only(overlay, "Configuration", annotations["dapr.io/config"])
    assert annotations["dapr.io/log-level"] in {"debug", "info", "warn", "error"}
    assert annotations["dapr.io/app-health-check-path"] == "/healthz"
    # The app reaches its injected sidecar on daprd's default gRPC port unless the annotation moves it.
    env = {e["name"]: e.get("value") for e in app_container(overlay)["env"]}
    assert env["DAPR_GRPC_ENDPOINT"].endswith(":" + annotations.get("dapr.io/grpc-port", "50001"))


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_probes_hit_health_and_readiness_on_the_app_port(overlay: str) -> None:
    container = app_container(overlay)
    port_names = {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    assert container["args"][container["args"].index("--port") + 1] == str(
        next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    )


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for pod in pod_specs(overlay):
        for container in pod["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), f"{container['name']} lacks {bound}"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_service_hpa_and_pdb_point_at_the_deployment(overlay: str) -> None:
    deployment = only(overlay, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    service = only(overlay, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for p in app_container(overlay)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names

    hpa = only(overlay, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]

    pdb = only(overlay, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # A budget the smallest deployment can honour, or node drains block forever.
    assert pdb["spec"]["maxUnavailable"] <= hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_app_runs_unprivileged(overlay: str) -> None:
    pod = only(overlay, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = app_container(overlay)["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in app_container(overlay)["volumeMounts"]}
    assert "/tmp" in mounts  # Tesseract's scratch files on a read-only root


def _secret_refs(value: Any) -> list[tuple[str, str]]:
    """Every (secret name, key) a manifest reads, from pod env and from Dapr component metadata."""
    refs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        ref = value.get("secretKeyRef")
        if isinstance(ref, dict):
            refs.append((ref["name"], ref["key"]))
        for child in value.values():
            refs.extend(_secret_refs(child))
    elif isinstance(value, list):
        for child in value:
            refs.extend(_secret_refs(child))
    return refs


def test_dev_generates_every_secret_key_it_reads() -> None:
    secret = only("dev", "Secret", SECRET_NAME)
    keys = set(secret["data"])
    for name, key in _secret_refs(list(objects("dev"))):
        assert (name, key in keys) == (SECRET_NAME, True), f"{name}/{key}"
    assert base64.b64decode(secret["data"]["api-token"]) == b"dev-token"


def test_prod_keeps_secrets_out_of_the_tree_and_the_readme_creates_every_key() -> None:
    assert not objects("prod", "Secret")
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    command = re.search(r"kubectl -n docline create secret generic docline-secrets(.*?)\n\n", readme, re.S)
    assert command, "deploy/README.md must show how to create docline-secrets"
    created = set(re.findall(r"--from-literal=([a-z0-9-]+)=", command.group(1)))
    read = {key for name, key in _secret_refs(list(objects("prod"))) if name == SECRET_NAME}
    assert read <= created, f"README misses {sorted(read - created)}"


def test_lite_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nreplicas:\n"
        "  - name: docline\n    count: 5\n",
        encoding="utf-8",
    )
    with pytest.raises(UnsupportedKustomization, match="replicas"):
        render_lite(tmp_path)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_app_fails_closed_without_its_tokens(overlay: str) -> None:
    """The API token and Dapr's app API token are required secrets (a pod without them does not start), daprd sends
    the app token from the same secret, and /metrics has a port of its own (no token there, cluster-internal)."""
    container = app_container(overlay)
    env = {e["name"]: e for e in container["env"]}
    for name, key in (("DOCLINE_API_TOKEN", "api-token"), ("APP_API_TOKEN", "token")):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (SECRET_NAME, key)
        assert not ref.get("optional", False), name
    annotations = only(overlay, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    # The injector reads the key `token` of the secret the annotation names.
    assert annotations["dapr.io/app-token-secret"] == SECRET_NAME
    settings = only(overlay, "ConfigMap", "docline-settings")["data"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(settings["DOCLINE_METRICS_PORT"]) == ports["metrics"]
    assert ports["metrics"] not in (ports["http"], int(annotations["dapr.io/metrics-port"]))
