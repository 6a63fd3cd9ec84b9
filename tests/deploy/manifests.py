"""Lookups in rendered Kubernetes resources."""

from __future__ import annotations

import base64
from typing import Any

from tests.deploy.kustomize import Resource


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def deployment(resources: list[Resource], component: str) -> Resource:
    return find(resources, "Deployment", f"tickwork-{component}")


def pod_spec(resource: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in {"Deployment", "Job"}]


def container_env(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """The environment a container starts with: envFrom sources, then env entries."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= find(resources, "ConfigMap", source["configMapRef"]["name"])["data"]
        if "secretRef" in source:
            data = find(resources, "Secret", source["secretRef"]["name"])["data"]
            env |= {k: base64.b64decode(v).decode() for k, v in data.items()}
    for item in container.get("env", []):
        assert "value" in item, f"{item['name']}: only literal env values are used here"
        env[item["name"]] = item["value"]
    return env
