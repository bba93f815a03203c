"""Every Dapr resource in deploy/ uses only what Dapr documents: component types, versions and metadata fields
(tests/deploy/dapr_documented.yaml, one doc page per type), and the Configuration and Resiliency specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.render import DEPLOY, OVERLAYS, Manifest, load_documents, objects

DOCUMENTED = yaml.safe_load((Path(__file__).parent / "dapr_documented.yaml").read_text(encoding="utf-8"))
SELFHOSTED = DEPLOY / "selfhosted"
ENVIRONMENTS = [*sorted(OVERLAYS), "selfhosted"]


def dapr_objects(environment: str, kind: str) -> list[Manifest]:
    if environment == "selfhosted":
        docs = [d for f in sorted((SELFHOSTED / "resources").glob("*.yaml")) for d in load_documents(f)]
        docs += load_documents(SELFHOSTED / "config.yaml")
        return [d for d in docs if d["kind"] == kind]
    return [o for o in objects(environment, kind) if o["apiVersion"].startswith("dapr.io/")]


def components(environment: str) -> dict[str, Manifest]:
    found = {c["metadata"]["name"]: c for c in dapr_objects(environment, "Component")}
    assert found, environment
    return found


def metadata(component: Manifest) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in component["spec"].get("metadata", [])}


def check_component(component: Manifest, *, cluster: bool) -> list[str]:
    """What is wrong with one Component, measured against Dapr's documentation; empty when nothing is."""
    name, spec = component["metadata"]["name"], component["spec"]
    problems: list[str] = []
    if component["apiVersion"] != "dapr.io/v1alpha1":
        problems.append(f"{name}: apiVersion {component['apiVersion']}")
    documented = DOCUMENTED["components"].get(spec["type"])
    if documented is None:
        return [f"{name}: type {spec['type']} is not in dapr_documented.yaml"]
    unknown_spec = set(spec) - set(DOCUMENTED["spec_fields"]["fields"])
    if unknown_spec:
        problems.append(f"{name}: spec fields {sorted(unknown_spec)}")
    if spec.get("version") not in documented["versions"]:
        problems.append(f"{name}: version {spec.get('version')} of {spec['type']}")
    allowed = set(documented["fields"])
    if spec["type"].startswith("bindings."):
        allowed |= set(DOCUMENTED["binding_common"]["fields"])
    entries = spec.get("metadata", [])
    names = [e["name"] for e in entries]
    if len(names) != len(set(names)):
        problems.append(f"{name}: a metadata field appears twice")
    for entry in entries:
        if entry["name"] not in allowed:
            problems.append(f"{name}: {spec['type']} documents no field {entry['name']!r} ({documented['url']})")
        if ("value" in entry) == ("secretKeyRef" in entry) or set(entry) - {"name", "value", "secretKeyRef"}:
            problems.append(f"{name}: field {entry['name']} needs exactly one of value or secretKeyRef")
        elif "value" in entry and not isinstance(entry["value"], str):
            problems.append(f"{name}: field {entry['name']} must be a string, as Kubernetes stores it")
        if cluster and entry["name"] in DOCUMENTED["secret_fields"] and "value" in entry:
            problems.append(f"{name}: credential {entry['name']} must come from a secretKeyRef")
    missing = set(documented["required"]) - set(names)
    if missing:
        problems.append(f"{name}: missing required {sorted(missing)}")
    if any("secretKeyRef" in e for e in entries) and not cluster and "auth" not in component:
        problems.append(f"{name}: self-hosted secretKeyRef needs auth.secretStore")
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_component_uses_documented_types_and_fields(environment: str) -> None:
    problems = [
        p for c in components(environment).values() for p in check_component(c, cluster=environment != "selfhosted")
    ]
    assert not problems, "\n".join(problems)


def test_the_check_catches_undocumented_fields_and_literal_credentials() -> None:
    component = components("prod")["docline-blobs"]
    component["spec"]["metadata"].append({"name": "bukket", "value": "x"})
    component["spec"]["metadata"].append({"name": "secretKey", "value": "plain"})
    component["spec"]["version"] = "v3"
    problems = check_component(component, cluster=True)
    assert any("'bukket'" in p for p in problems)
    assert any("credential secretKey" in p for p in problems)
    assert any("version v3" in p for p in problems)
    component["spec"]["type"] = "bindings.aws.s4"
    assert check_component(component, cluster=True) == [
        "docline-blobs: type bindings.aws.s4 is not in dapr_documented.yaml"
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_one_actor_state_store_and_every_component_the_app_names(environment: str) -> None:
    found = components(environment)
    actor_stores = [n for n, c in found.items() if metadata(c).get("actorStateStore", {}).get("value") == "true"]
    assert len(actor_stores) == 1, f"Dapr allows exactly one actor state store, found {actor_stores}"
    assert found[actor_stores[0]]["spec"]["type"] in {"state.redis", "state.postgresql"}
    assert found["docline-state"]["spec"]["type"].startswith("state.")
    for binding in ("docline-inbox", "docline-outbox", "docline-blobs"):
        assert found[binding]["spec"]["type"] in {
            "bindings.aws.s3",
            "bindings.azure.blobstorage",
            "bindings.localstorage",
        }
    cron = found["docline-inbox-scan"]
    assert cron["spec"]["type"] == "bindings.cron"
    assert metadata(cron)["schedule"]["value"].startswith("@every")
    assert found["docline-llm"]["spec"]["type"].startswith("conversation.")


@pytest.mark.parametrize("environment", sorted(OVERLAYS))
def test_cluster_components_are_scoped_to_the_app_and_read_secrets_from_kubernetes(environment: str) -> None:
    for name, component in components(environment).items():
        assert component.get("scopes") == ["docline"], name
        if any("secretKeyRef" in e for e in component["spec"].get("metadata", [])):
            assert component["auth"] == {"secretStore": "kubernetes"}, name


# The Configuration fields docline sets, as https://docs.dapr.io/reference/resource-specs/configuration-schema/
# documents them (tracing: https://docs.dapr.io/operations/observability/tracing/setup-tracing/).
CONFIGURATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "dapr.io/v1alpha1"},
        "kind": {"const": "Configuration"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "tracing": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["samplingRate"],
                    "properties": {
                        "samplingRate": {"type": "string", "pattern": r"^(0(\.\d+)?|1(\.0+)?)$"},
                        "stdout": {"type": "boolean"},
                        "otel": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["endpointAddress"],
                            "properties": {
                                "endpointAddress": {"type": "string", "minLength": 1},
                                "isSecure": {"type": "boolean"},
                                "protocol": {"enum": ["grpc", "http"]},
                            },
                        },
                    },
                },
                "metrics": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": {"type": "boolean"}},
                },
                "logging": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "apiLogging": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "enabled": {"type": "boolean"},
                                "obfuscateURLs": {"type": "boolean"},
                                "omitHealthChecks": {"type": "boolean"},
                            },
                        }
                    },
                },
            },
        },
    },
}

_DURATION = {"type": "string", "pattern": r"^\d+(ms|s|m|h)$"}
# https://docs.dapr.io/reference/resource-specs/resiliency-schema/ and .../operations/resiliency/policies/
RESILIENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "dapr.io/v1alpha1"},
        "kind": {"const": "Resiliency"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["policies", "targets"],
            "properties": {
                "policies": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "timeouts": {"type": "object", "additionalProperties": _DURATION},
                        "retries": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["policy"],
                                "properties": {
                                    "policy": {"enum": ["constant", "exponential"]},
                                    "duration": _DURATION,
                                    "maxInterval": _DURATION,
                                    "maxRetries": {"type": "integer", "minimum": -1},
                                },
                            },
                        },
                        "circuitBreakers": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["trip"],
                                "properties": {
                                    "maxRequests": {"type": "integer", "minimum": 1},
                                    "interval": _DURATION,
                                    "timeout": _DURATION,
                                    "trip": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "targets": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "apps": {"type": "object"},
                        "actors": {"type": "object"},
                        "components": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    direction: {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "timeout": {"type": "string"},
                                            "retry": {"type": "string"},
                                            "circuitBreaker": {"type": "string"},
                                        },
                                    }
                                    for direction in ("inbound", "outbound")
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_configuration_matches_the_documented_spec(environment: str) -> None:
    (configuration,) = dapr_objects(environment, "Configuration")
    jsonschema.validate(configuration, CONFIGURATION_SCHEMA)
    assert configuration["spec"]["tracing"]["otel"]["endpointAddress"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_resiliency_targets_defined_policies_and_existing_components(environment: str) -> None:
    (resiliency,) = dapr_objects(environment, "Resiliency")
    jsonschema.validate(resiliency, RESILIENCY_SCHEMA)
    policies = resiliency["spec"]["policies"]
    known = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    targets = resiliency["spec"]["targets"]["components"]
    assert set(targets) <= set(components(environment)), "a target names a component that does not exist"
    for name, directions in targets.items():
        for direction in directions.values():
            for kind, policy in direction.items():
                assert policy in policies[known[kind]], f"{name}: {kind} {policy} is not defined"
    # Input bindings get inbound policies, everything else outbound.
    assert set(targets["docline-inbox-scan"]) == {"inbound"}


def test_resiliency_schema_rejects_a_misspelled_policy() -> None:
    (resiliency,) = dapr_objects("prod", "Resiliency")
    resiliency["spec"]["policies"]["retries"]["state"]["maxRetrys"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(resiliency, RESILIENCY_SCHEMA)


@pytest.mark.parametrize("environment", sorted(OVERLAYS))
def test_pod_annotations_are_ones_the_injector_reads(environment: str) -> None:
    documented = set(DOCUMENTED["annotations"]["names"])
    for workload in objects(environment, "Deployment"):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        dapr = {name for name in annotations if name.startswith("dapr.io/")}
        assert dapr <= documented, f"undocumented: {sorted(dapr - documented)} ({DOCUMENTED['annotations']['url']})"


def test_helm_values_keep_mtls_on() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "dapr-values.yaml").read_text(encoding="utf-8"))
    mtls = values["global"]["mtls"]
    assert mtls["enabled"] is True
    assert mtls["workloadCertTTL"].endswith("h")
