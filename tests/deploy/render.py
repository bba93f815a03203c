"""Render the kustomize overlays in deploy/k8s for the deploy tests, with or without a kustomize binary.

Two renderers:
- ``render_kustomize``: the real kustomize, as built into ``kubectl kustomize`` (or a ``kustomize`` binary) when one is
  on PATH. Debian bookworm packages neither a current kubectl nor kustomize, and nothing may be downloaded, so it is
  used only where the machine already has it.
- ``render_lite``: our own reading of the subset of kustomization.yaml that deploy/k8s uses (resources, namespace,
  labels, images, secretGenerator with literals, strategic-merge ``patches`` by file). Anything else in a
  kustomization raises ``UnsupportedKustomization``, so the subset cannot silently drift from what the files say.
  Where the real kustomize is present, a test checks that both renderers produce the same objects.
"""

from __future__ import annotations

import base64
import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}

Manifest = dict[str, Any]

# Strategic-merge keys of the core list fields our patches touch (Kubernetes API conventions, patchMergeKey).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "ports": "containerPort",
}
_MERGE_KEYS_BY_FIELD = {"volumeMounts": "mountPath"}
_SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "secretGenerator",
    "generatorOptions",
    "patches",
}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class UnsupportedKustomization(Exception):
    """A kustomization.yaml uses a field the lite renderer does not implement."""


def load_documents(path: Path) -> list[Manifest]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def kustomize_command() -> list[str] | None:
    """The real kustomize, if this machine has one: a kustomize binary, or kubectl with it built in."""
    if binary := shutil.which("kustomize"):
        return [binary, "build"]
    if binary := shutil.which("kubectl"):
        return [binary, "kustomize"]
    return None


def render_kustomize(directory: Path) -> list[Manifest]:
    command = kustomize_command()
    if command is None:
        raise FileNotFoundError("neither kustomize nor kubectl is on PATH")
    out = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=60, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render(directory: Path) -> list[Manifest]:
    """The overlay's objects: by the real kustomize where present, else by the lite renderer."""
    return render_kustomize(directory) if kustomize_command() else render_lite(directory)


def render_lite(directory: Path) -> list[Manifest]:
    kustomization = load_documents(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - _SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: fields {sorted(unknown)} are not implemented")

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        objects.extend(render_lite(target) if target.is_dir() else load_documents(target))

    for label_set in kustomization.get("labels", []):
        if set(label_set) - {"pairs"}:
            raise UnsupportedKustomization(f"{directory}: only plain label pairs are implemented")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])

    options = kustomization.get("generatorOptions", {})
    for generator in kustomization.get("secretGenerator", []):
        if set(generator) - {"name", "literals"} or not options.get("disableNameSuffixHash"):
            raise UnsupportedKustomization(f"{directory}: only literal secrets without a name hash are implemented")
        data = {}
        for literal in generator["literals"]:
            key, _, value = literal.partition("=")
            data[key] = base64.b64encode(value.encode()).decode()
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": "Opaque",
                "data": data,
            }
        )

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise UnsupportedKustomization(f"{directory}: only strategic-merge patches by path are implemented")
        for patch in load_documents(directory / patch_entry["path"]):
            target = _find(objects, patch)
            index = objects.index(target)
            objects[index] = _merge(target, patch, strategic=not patch["apiVersion"].startswith("dapr.io/"))

    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"

    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objects


def _find(objects: list[Manifest], patch: Manifest) -> Manifest:
    matches = [
        obj
        for obj in objects
        if obj["kind"] == patch["kind"]
        and obj["apiVersion"] == patch["apiVersion"]
        and obj["metadata"]["name"] == patch["metadata"]["name"]
    ]
    if len(matches) != 1:
        raise UnsupportedKustomization(f"patch {patch['kind']}/{patch['metadata']['name']} matches {len(matches)}")
    return matches[0]


def _containers(obj: Manifest) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    return [*pod.get("containers", []), *pod.get("initContainers", [])] if isinstance(pod, dict) else []


def _merge(base: Any, patch: Any, *, strategic: bool, field: str = "") -> Any:
    """Strategic merge for built-in kinds; JSON merge patch (RFC 7386) for custom resources, as kustomize does."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, strategic=strategic, field=key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    merge_key = _MERGE_KEYS.get(field) or _MERGE_KEYS_BY_FIELD.get(field)
    if strategic and merge_key and isinstance(base, list) and isinstance(patch, list):
        merged_list = copy.deepcopy(base)
        for item in patch:
            existing = [i for i, old in enumerate(merged_list) if old.get(merge_key) == item.get(merge_key)]
            if existing:
                merged_list[existing[0]] = _merge(merged_list[existing[0]], item, strategic=True)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def identity(obj: Manifest) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


# -- views of a rendered overlay, shared by the tests
@functools.cache
def rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(render(OVERLAYS[overlay]))


def objects(overlay: str, kind: str | None = None) -> list[Manifest]:
    return [copy.deepcopy(o) for o in rendered(overlay) if kind is None or o["kind"] == kind]


def only(overlay: str, kind: str, name: str = "docline") -> Manifest:
    found = [o for o in objects(overlay, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind}/{name}, found {len(found)}"
    return found[0]


def app_container(overlay: str) -> dict[str, Any]:
    pod = only(overlay, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "docline")


def pod_specs(overlay: str) -> list[dict[str, Any]]:
    specs = []
    for obj in objects(overlay):
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            specs.append(obj["spec"]["template"]["spec"])
    return specs
