"""deploy/overlays/pools: the base plus executors of a `gpu` pool scaled on its queued
runs; valid Kubernetes, rendered alike by the resolver and kubectl, wired to real
settings and metrics."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from tickwork_shared import metrics  # noqa: F401 - registers the metrics
from tickwork_shared.pools import run_queue_of
from tickwork_shared.settings import Settings

from tests.deploy.kustomize import Resource, kubectl_render, render
from tests.deploy.layout import K8S, ROOT
from tests.deploy.manifests import container_env, find, pod_spec
from tests.deploy.test_k8s_manifests import schema_problems

OVERLAY = ROOT / "deploy" / "overlays" / "pools"


@pytest.fixture(scope="module")
def rendered() -> list[Resource]:
    return render(OVERLAY, examples=True)


def _pool_executors(rendered: list[Resource]) -> dict[str, Resource]:
    """Executor Deployments by the pools they serve (TICKWORK_EXECUTOR_POOLS)."""
    found = {}
    for resource in rendered:
        if resource["kind"] != "Deployment":
            continue
        (container,) = pod_spec(resource)["containers"]
        if container["args"] != ["executor"]:
            continue
        pools = container_env(rendered, container).get("TICKWORK_EXECUTOR_POOLS", "default")
        found[",".join(Settings(executor_pools=pools).executor_pools)] = resource
    return found


def test_the_overlay_adds_a_valid_executor_deployment_per_pool(rendered: list[Resource]) -> None:
    assert [p for r in rendered for p in schema_problems(r)] == []
    executors = _pool_executors(rendered)
    assert set(executors) == {"default", "gpu"}
    assert executors["gpu"]["metadata"]["name"] == "tickwork-executor-gpu"
    # Two Deployments whose selectors match each other's pods would fight over them.
    for one in executors.values():
        selector = one["spec"]["selector"]["matchLabels"].items()
        for other in executors.values():
            labels = other["spec"]["template"]["metadata"]["labels"].items()
            assert (selector <= labels) == (one is other), one["metadata"]["name"]
    assert run_queue_of("gpu") == "tickwork.runs.gpu"


def test_the_pool_scales_on_its_own_queued_runs(rendered: list[Resource]) -> None:
    hpa = find(rendered, "HorizontalPodAutoscaler", "tickwork-executor-gpu")
    target = hpa["spec"]["scaleTargetRef"]
    deployment = find(rendered, target["kind"], target["name"])
    assert "replicas" not in deployment["spec"]
    (container,) = pod_spec(deployment)["containers"]
    pool = container_env(rendered, container)["TICKWORK_EXECUTOR_POOLS"]
    (metric,) = hpa["spec"]["metrics"]
    external = metric["external"]["metric"]
    assert external["selector"]["matchLabels"] == {"pool": pool}
    assert external["name"] in {family.name for family in REGISTRY.collect()}


def test_kubectl_kustomize_renders_the_overlay_alike(
    rendered: list[Resource], tmp_path: Path
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the resolver's rendering was checked alone")
    deploy = tmp_path / "deploy"
    shutil.copytree(K8S, deploy / "k8s")
    for example in (deploy / "k8s").rglob("*.example"):
        if not example.with_suffix("").exists():
            shutil.copy(example, example.with_suffix(""))
    real = kubectl_render(OVERLAY, deploy / "overlays")
    assert real is not None

    def identity(resource: Resource) -> tuple[str, str, str | None]:
        name = resource["metadata"]["name"]
        if resource["kind"] in {"Secret", "ConfigMap"}:
            name = re.sub(r"-[a-z0-9]{10}$", "", name)
        return resource["kind"], name, resource["metadata"].get("namespace")

    assert sorted(map(identity, real)) == sorted(map(identity, rendered))
    assert [p for r in real for p in schema_problems(r)] == []
