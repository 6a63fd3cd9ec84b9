"""compose.yaml's `observability` profile: Prometheus scrapes what the services serve, and the
starter dashboard and alerts ask only for metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import tickwork_api.metrics  # noqa: F401  (registers the api's metrics)
import tickwork_shared.metrics  # noqa: F401  (registers every shared metric)
import yaml
from prometheus_client import REGISTRY

from tests.deploy import compose_file
from tests.deploy.env_files import read_env_file
from tests.deploy.layout import COMPOSE_ENV_EXAMPLE, COMPOSE_FILE, ROOT

OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "tickwork.json"
PROMETHEUS = OBSERVABILITY / "prometheus" / "prometheus.yml"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yml"
PROFILE_SERVICES = ("prometheus", "grafana", "jaeger")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
METRIC_NAME = re.compile(r"\btickwork_[a-z_]+")


def exposed_names() -> set[str]:
    """Every series name the tickwork metrics can expose (`_total`, `_bucket`, …)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("tickwork_"):
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    env = read_env_file(COMPOSE_ENV_EXAMPLE)
    document: dict[str, Any] = compose_file.interpolate(compose_file.load(COMPOSE_FILE), env)
    return dict(document["services"])


def test_dashboard_panels_ask_for_metrics_that_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = expressions(dashboard)
    assert len(dashboard["panels"]) >= 7
    named = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert named, "no panel names a tickwork metric"
    assert named - exposed_names() == set()
    for wanted in (
        "tickwork_executions_total",
        "tickwork_schedule_lag_seconds_bucket",
        "tickwork_run_duration_seconds_bucket",
        "tickwork_runs_skipped_total",
        "tickwork_outbox_backlog",
        "tickwork_executor_in_flight",
        "tickwork_executor_capacity",
        "tickwork_stale_jobs",
    ):
        assert wanted in named, f"the dashboard shows no {wanted}"


def test_the_metric_check_catches_a_wrong_name() -> None:
    assert "tickwork_executions" not in exposed_names()  # a counter is scraped as _total
    assert "tickwork_executions_total" in exposed_names()


def test_dashboard_uses_the_provisioned_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    assert source["url"] == "http://prometheus:9090"


def test_alerts_ask_for_metrics_that_exist() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert rules
    named = {name for rule in rules for name in METRIC_NAME.findall(rule["expr"])}
    assert named - exposed_names() == set()


def test_prometheus_scrapes_the_ports_compose_serves_metrics_on(
    services: dict[str, Any],
) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    scraped = {
        sd["names"][0]: sd["port"]
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    api_port = int(compose_file.environment(services["api"])["TICKWORK_API_PORT"])
    assert scraped["api"] == api_port
    for name in ("planner", "executor"):
        assert scraped[name] == int(
            compose_file.environment(services[name])["TICKWORK_METRICS_PORT"]
        ), name
    assert (OBSERVABILITY / "prometheus" / Path(config["rule_files"][0]).name).is_file()


def test_the_profile_is_optional_and_its_files_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name in PROFILE_SERVICES:
            assert service["profiles"] == ["observability"], name
            for volume in service.get("volumes", []):
                source = str(volume).split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
        else:
            assert "profiles" not in service, f"{name} would no longer start by default"
    grafana_mounts = dict(str(v).split(":")[:2] for v in services["grafana"]["volumes"])
    provider = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/dashboards/tickwork.yml").read_text()
    )["providers"][0]
    assert (
        grafana_mounts["./deploy/observability/grafana/dashboards"] == provider["options"]["path"]
    )
