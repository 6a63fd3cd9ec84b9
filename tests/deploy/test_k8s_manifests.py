"""deploy/k8s: every rendered resource valid by the Kubernetes JSON schemas (shipped by the
kubernetes-validate package, strict: unknown fields are errors), and the resources wired
to each other and to tickwork's settings the way deploy/README.md promises."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.dockerfile_stages import stages
from tests.deploy.env_files import assert_real_settings, read_env_file
from tests.deploy.kustomize import Resource, kubectl_render, render
from tests.deploy.layout import DOCKERFILE, K8S
from tests.deploy.manifests import container_env, deployment, find, pod_spec, workloads

# The oldest Kubernetes these manifests promise to work on, and the newest schemas known.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
GRACE_MARGIN_SECONDS = 10
COMPONENTS = {"api", "planner", "executor"}


@pytest.fixture(scope="module")
def rendered() -> list[Resource]:
    return render(K8S, examples=True)


def schema_problems(resource: Resource) -> list[str]:
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(
                f"{resource['kind']}/{resource['metadata']['name']} ({version}) "
                f"{path}: {error.message}"
            )
    return problems


def test_every_rendered_resource_is_valid_kubernetes(rendered: list[Resource]) -> None:
    kinds = {r["kind"] for r in rendered}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Job", "Service"} <= kinds
    assert "HorizontalPodAutoscaler" in kinds
    assert [p for r in rendered for p in schema_problems(r)] == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), "two"),
        (("spec", "template", "spec", "containers", 0, "livenesProbe"), {}),
        (("spec", "template", "spec", "terminationGracePeriod"), 45),
    ],
)
def test_the_schema_check_catches_mistakes(
    rendered: list[Resource], path: tuple[str | int, ...], value: Any
) -> None:
    broken = copy.deepcopy(deployment(rendered, "executor"))
    node: Any = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert schema_problems(broken)


def test_kubectl_kustomize_renders_the_same_valid_resources(
    rendered: list[Resource], tmp_path: Path
) -> None:
    real = kubectl_render(K8S, tmp_path)
    if real is None:
        pytest.skip("kubectl is not installed: the resolver's rendering was checked alone")

    def identity(resource: Resource) -> tuple[str, str, str | None]:
        name = resource["metadata"]["name"]
        if resource["kind"] in {"Secret", "ConfigMap"}:
            name = re.sub(r"-[a-z0-9]{10}$", "", name)  # kustomize's content-hash suffix
        return resource["kind"], name, resource["metadata"].get("namespace")

    assert sorted(map(identity, real)) == sorted(map(identity, rendered))
    labels = {identity(r): r["metadata"].get("labels") for r in rendered}
    assert {identity(r): r["metadata"].get("labels") for r in real} == labels
    assert [p for r in real for p in schema_problems(r)] == []
    images = {c["image"] for r in workloads(real) for c in pod_spec(r)["containers"]}
    assert images == {c["image"] for r in workloads(rendered) for c in pod_spec(r)["containers"]}


def test_selectors_match_their_pods_and_the_service_reaches_the_api(
    rendered: list[Resource],
) -> None:
    for resource in rendered:
        if resource["kind"] == "Deployment":
            selector = resource["spec"]["selector"]["matchLabels"]
            labels = resource["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), resource["metadata"]["name"]
    service = find(rendered, "Service", "tickwork-api")
    api = deployment(rendered, "api")
    assert (
        service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    port_names = {p["name"] for p in pod_spec(api)["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_every_tickwork_container_is_bounded_unprivileged_and_runs_a_tickwork_command(
    rendered: list[Resource],
) -> None:
    images = set()
    user = stages(DOCKERFILE)[-1].last("USER")
    assert user is not None
    image_uid = int(user.value[0].split(":")[0])
    for resource in workloads(rendered):
        spec = pod_spec(resource)
        # The namespace enforces the "restricted" Pod Security Standard.
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == image_uid
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            where = f"{resource['metadata']['name']}/{container['name']}"
            images.add(container["image"])
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert container["args"][0] in {"migrate", *COMPONENTS}, where
            assert "command" not in container, f"{where}: the image's entrypoint is tickwork"
    assert len(images) == 1, f"one image for every process: {images}"


def test_probes_use_the_ports_the_processes_listen_on(rendered: list[Resource]) -> None:
    api = pod_spec(deployment(rendered, "api"))["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    http = next(p for p in api["ports"] if p["name"] == api["livenessProbe"]["httpGet"]["port"])
    assert str(http["containerPort"]) == container_env(rendered, api)["TICKWORK_API_PORT"]
    for component in ("planner", "executor"):
        container = pod_spec(deployment(rendered, component))["containers"][0]
        metrics = container_env(rendered, container).get("TICKWORK_METRICS_PORT")
        assert metrics, f"{component}: probes need TICKWORK_METRICS_PORT"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            action = container[probe].get("httpGet") or container[probe].get("tcpSocket")
            assert action is not None, f"{component}.{probe}"
            assert str(ports[action["port"]]) == metrics, f"{component}.{probe}"


def test_executor_termination_grace_outlasts_its_shutdown_grace(
    rendered: list[Resource],
) -> None:
    executor = deployment(rendered, "executor")
    container = pod_spec(executor)["containers"][0]
    grace = float(container_env(rendered, container)["TICKWORK_SHUTDOWN_GRACE_SECONDS"])
    termination = pod_spec(executor)["terminationGracePeriodSeconds"]
    assert termination >= grace + GRACE_MARGIN_SECONDS, (termination, grace)


def test_autoscalers_own_the_replicas_of_what_they_scale(rendered: list[Resource]) -> None:
    scaled = set()
    for hpa in (r for r in rendered if r["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        resource = find(rendered, target["kind"], target["name"])
        assert "replicas" not in resource["spec"], f"{target['name']}: apply would fight the HPA"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        scaled.add(target["name"])
    assert {"tickwork-executor", "tickwork-api"} <= scaled
    assert deployment(rendered, "planner")["spec"]["replicas"] >= 2


def test_migration_job_runs_migrate_once(rendered: list[Resource]) -> None:
    job = find(rendered, "Job", "tickwork-migrate")
    spec = pod_spec(job)
    assert spec["restartPolicy"] in {"OnFailure", "Never"}
    assert spec["containers"][0]["args"] == ["migrate"]


def test_the_upgrade_selector_picks_the_migration_and_what_it_needs(
    rendered: list[Resource],
) -> None:
    """deploy/README.md's upgrade applies `-l 'app.kubernetes.io/component in (config,
    migrate)'` first: that must be the Job and everything its pod reads, nothing else."""
    selected = {
        (r["kind"], r["metadata"]["name"])
        for r in rendered
        if r["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        in {"config", "migrate"}
    }
    job = find(rendered, "Job", "tickwork-migrate")
    needed = {("Job", "tickwork-migrate")}
    for source in pod_spec(job)["containers"][0]["envFrom"]:
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                needed.add((kind, source[ref]["name"]))
    assert selected == needed


def test_settings_are_real_settings_with_valid_values(rendered: list[Resource]) -> None:
    secrets_example = read_env_file(K8S / "secrets.env.example")
    assert set(secrets_example) == {"TICKWORK_DATABASE_URL", "TICKWORK_AMQP_URL"}
    for resource in workloads(rendered):
        for container in pod_spec(resource)["containers"]:
            env = container_env(rendered, container)
            assert_real_settings(env, resource["metadata"]["name"])


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for rule in selector.get("matchExpressions", []):
        if rule["operator"] == "In" and labels.get(rule["key"]) not in rule["values"]:
            return False
    return True


def _policies(rendered: list[Resource]) -> list[Resource]:
    return [r for r in rendered if r["kind"] == "NetworkPolicy"]


def test_only_executors_mount_the_task_secrets_where_tickwork_secrets_dir_points(
    rendered: list[Resource],
) -> None:
    executor = pod_spec(deployment(rendered, "executor"))
    container = executor["containers"][0]
    secret_volumes = {v["name"]: v["secret"] for v in executor["volumes"] if "secret" in v}
    [mount] = [m for m in container["volumeMounts"] if m["name"] in secret_volumes]
    assert mount["readOnly"] is True
    assert container_env(rendered, container)["TICKWORK_SECRETS_DIR"] == mount["mountPath"]
    assert secret_volumes[mount["name"]]["optional"] is True
    for resource in workloads(rendered):
        if resource is deployment(rendered, "executor"):
            continue
        assert not any("secret" in v for v in pod_spec(resource).get("volumes", [])), resource[
            "metadata"
        ]["name"]


def test_network_policies_select_tickwork_pods_by_their_named_ports(
    rendered: list[Resource],
) -> None:
    policies = {p["metadata"]["name"]: p for p in _policies(rendered)}
    pods = {
        c: deployment(rendered, c)["spec"]["template"]["metadata"]["labels"] for c in COMPONENTS
    }
    api_ingress = policies["tickwork-api-ingress"]["spec"]
    assert [c for c in COMPONENTS if _selects(api_ingress["podSelector"], pods[c])] == ["api"]
    api_ports = {p["name"] for p in pod_spec(deployment(rendered, "api"))["containers"][0]["ports"]}
    assert [p["port"] for rule in api_ingress["ingress"] for p in rule["ports"]] == ["http"]
    assert "http" in api_ports
    metrics = policies["tickwork-metrics-ingress"]["spec"]
    for component in ("planner", "executor"):
        assert _selects(metrics["podSelector"], pods[component])
        ports = pod_spec(deployment(rendered, component))["containers"][0]["ports"]
        assert "metrics" in {p["name"] for p in ports}
    assert policies["tickwork-default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    for store, port in (("mariadb", 3306), ("rabbitmq", 5672)):
        spec = policies[f"tickwork-{store}-ingress"]["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": store}
        [rule] = spec["ingress"]
        [source] = rule["from"]
        assert all(_selects(source["podSelector"], labels) for labels in pods.values())
        assert [p["port"] for p in rule["ports"]] == [port]


@pytest.mark.parametrize(
    ("address", "reachable"),
    [
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("169.254.169.254", False),
        ("10.96.0.1", False),  # a typical service CIDR
        ("10.244.1.7", False),  # a typical pod CIDR
        ("172.20.0.5", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("127.0.0.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
    ],
)
def test_executor_egress_reaches_the_internet_but_not_the_cluster(
    rendered: list[Resource], address: str, reachable: bool
) -> None:
    import ipaddress

    policy = find(rendered, "NetworkPolicy", "tickwork-executor-egress")["spec"]
    assert _selects(
        policy["podSelector"],
        deployment(rendered, "executor")["spec"]["template"]["metadata"]["labels"],
    )
    assert policy["policyTypes"] == ["Egress"]
    ip = ipaddress.ip_address(address)
    allowed = False
    for rule in policy["egress"]:
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block is None:
                continue
            network = ipaddress.ip_network(block["cidr"])
            if ip.version == network.version and ip in network:
                excluded = [ipaddress.ip_network(e) for e in block.get("except", [])]
                allowed |= not any(ip in e for e in excluded)
    assert allowed is reachable
    # Everything else it may reach is named: DNS, MariaDB, RabbitMQ.
    named = [peer for rule in policy["egress"] for peer in rule["to"] if "ipBlock" not in peer]
    labels = [p["podSelector"]["matchLabels"] for p in named]
    assert {"k8s-app": "kube-dns"} in labels
    assert {"app.kubernetes.io/name": "mariadb"} in labels
    assert {"app.kubernetes.io/name": "rabbitmq"} in labels
