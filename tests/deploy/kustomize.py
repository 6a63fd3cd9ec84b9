"""Render deploy/k8s the way `kubectl apply -k` would, to validate what reaches the cluster.

`render` is a small resolver of the kustomization features this project uses (resources,
namespace, secret/configMap generators, images); it refuses any other field, so a
kustomization that grows past it fails here instead of being checked half-way.
`kubectl_render` runs the real kustomize built into kubectl, where kubectl is installed.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.env_files import read_env_file

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "secretGenerator",
    "configMapGenerator",
    "images",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}

Resource = dict[str, Any]


class KustomizeError(ValueError):
    pass


def _generated(kind: str, spec: dict[str, Any], folder: Path, examples: bool) -> Resource:
    data: dict[str, str] = {}
    for env_file in spec.get("envs", []):
        path = folder / env_file
        if examples and not path.exists():
            path = folder / f"{env_file}.example"
        data |= read_env_file(path)
    for literal in spec.get("literals", []):
        name, _, value = literal.partition("=")
        data[name] = value
    unknown = set(spec) - {"name", "envs", "literals", "type", "options"}
    options = spec.get("options", {})
    unknown |= set(options) - {"labels", "annotations", "disableNameSuffixHash"}
    if unknown:
        raise KustomizeError(f"{kind} generator fields this resolver does not know: {unknown}")
    metadata = {"name": spec["name"]}
    for key in ("labels", "annotations"):
        if key in options:
            metadata[key] = dict(options[key])
    resource: Resource = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
    if kind == "Secret":
        resource["type"] = spec.get("type", "Opaque")
        resource["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        resource["data"] = data
    return resource


def _containers(resource: Resource) -> list[dict[str, Any]]:
    if resource.get("kind") not in POD_TEMPLATE_KINDS:
        return []
    pod = resource["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _set_images(resources: list[Resource], images: list[dict[str, str]]) -> None:
    for image in images:
        for resource in resources:
            for container in _containers(resource):
                name = container["image"].split("@")[0].rsplit(":", 1)[0]
                if name == image["name"]:
                    new = image.get("newName", image["name"])
                    if "digest" in image:
                        container["image"] = f"{new}@{image['digest']}"
                    else:
                        container["image"] = f"{new}:{image['newTag']}"


def render(folder: Path, *, examples: bool = False) -> list[Resource]:
    """The resources of `folder/kustomization.yaml`; `examples`: read `X.example` for a
    generator's missing env file `X` (the real one holds secrets and is never committed)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"kustomization fields this resolver does not know: {unknown}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        if path.is_dir():
            resources += render(path, examples=examples)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for spec in kustomization.get("configMapGenerator", []):
        resources.append(_generated("ConfigMap", spec, folder, examples))
    for spec in kustomization.get("secretGenerator", []):
        resources.append(_generated("Secret", spec, folder, examples))
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    _set_images(resources, kustomization.get("images", []))
    return resources


def kubectl_render(folder: Path, workdir: Path) -> list[Resource] | None:
    """`kubectl kustomize` of a copy of `folder` with example env files in place; None
    where kubectl is not installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    copy = workdir / folder.name
    shutil.copytree(folder, copy)
    for example in copy.rglob("*.example"):
        target = example.with_suffix("")
        if not target.exists():
            shutil.copy(example, target)
    done = subprocess.run(
        [kubectl, "kustomize", str(copy)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise KustomizeError(f"kubectl kustomize failed: {done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
