"""compose.yaml: valid by the Compose specification's JSON schema (shipped by the
check-jsonschema package), and wired the way deploy/README.md promises."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
from tickwork_shared.settings import Settings

from tests.deploy import compose_file
from tests.deploy.compose_file import InterpolationError, environment, interpolate, seconds
from tests.deploy.env_files import assert_real_settings, read_env_file
from tests.deploy.layout import COMPOSE_ENV_EXAMPLE, COMPOSE_FILE, ROOT, TICKWORK_SERVICES

GRACE_MARGIN_SECONDS = 10
DEFAULT_STOP_GRACE = "10s"  # docker compose's default stop_grace_period


def compose_schema() -> dict[str, Any]:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        compose_schema(), format_checker=jsonschema.FormatChecker()
    )
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(COMPOSE_ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(example_env: dict[str, str]) -> dict[str, Any]:
    """compose.yaml after interpolation with deploy/compose.env.example's values."""
    document: dict[str, Any] = interpolate(compose_file.load(COMPOSE_FILE), example_env)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def test_compose_file_is_valid_by_the_compose_specification(compose: dict[str, Any]) -> None:
    raw = compose_file.load(COMPOSE_FILE)
    assert schema_errors(raw) == []
    assert schema_errors(compose) == []


@pytest.mark.parametrize(
    ("service", "path", "value"),
    [
        ("executor", ("depends_on", "migrate", "condition"), "service_done"),
        ("planner", ("replica",), 2),
        ("api", ("healthcheck", "interval"), ["10s"]),
        ("mariadb", ("volumes",), "mariadb-data:/var/lib/mysql"),
    ],
)
def test_the_schema_check_catches_mistakes(
    compose: dict[str, Any], service: str, path: tuple[str, ...], value: Any
) -> None:
    broken = copy.deepcopy(compose)
    node = broken["services"][service]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = schema_errors(broken)
    assert errors, f"{service}.{'.'.join(path)} = {value!r} passed the schema"
    assert all(e.startswith(f"$.services.{service}") for e in errors), errors


def test_passwords_come_from_the_environment_and_compose_refuses_to_start_without_them(
    example_env: dict[str, str],
) -> None:
    required = compose_file.required_variables(COMPOSE_FILE)
    assert {"MARIADB_ROOT_PASSWORD", "MARIADB_PASSWORD", "RABBITMQ_PASSWORD"} <= required
    assert required <= set(example_env), "compose.env.example lists every required variable"
    raw = compose_file.load(COMPOSE_FILE)
    for name in required:
        partial = {k: v for k, v in example_env.items() if k != name}
        with pytest.raises(InterpolationError, match=name):
            interpolate(raw, partial)
    for service_name, service in raw["services"].items():
        for key, value in environment(service).items():
            if any(word in key for word in ("PASSWORD", "PASS", "SECRET", "TOKEN")):
                assert value.startswith("${"), f"{service_name}.{key} is written in the file"
            if "://" in value:
                password = urlsplit(value).password
                assert password is None or password.startswith("${"), (
                    f"{service_name}.{key}: a literal password in a URL"
                )


def test_brokers_have_health_checks_and_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    for name in ("mariadb", "rabbitmq"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
        volumes = [str(v).split(":")[0] for v in services[name]["volumes"]]
        assert volumes, f"{name} keeps its data in no volume"
        assert set(volumes) <= declared, f"{name}: volumes {volumes} are not named volumes"
    assert services["rabbitmq"].get("hostname"), "RabbitMQ's data dir follows its hostname"


def test_migrate_runs_once_before_the_services(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["mariadb"]["condition"] == "service_healthy"
    for name in ("api", "planner", "executor"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["mariadb"]["condition"] == "service_healthy", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown service {target}"


def test_scaled_services_have_replicas_and_nothing_that_stops_scaling(
    services: dict[str, Any],
) -> None:
    assert services["planner"]["deploy"]["replicas"] == 2
    assert services["executor"]["deploy"]["replicas"] == 3
    for name in ("planner", "executor"):
        assert "container_name" not in services[name], f"{name}: one name, one container"
        assert "ports" not in services[name], f"{name}: a fixed host port blocks --scale"


def test_tickwork_services_share_one_image_built_from_deploy_dockerfile(
    services: dict[str, Any],
) -> None:
    images = {services[name]["image"] for name in TICKWORK_SERVICES}
    assert len(images) == 1, images
    for name in TICKWORK_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_api_port_is_published_and_health_checked_where_it_listens(
    services: dict[str, Any],
) -> None:
    api = services["api"]
    port = int(environment(api)["TICKWORK_API_PORT"])
    targets = [int(str(spec).rsplit(":", 1)[-1]) for spec in api["ports"]]
    assert targets == [port]
    assert f"127.0.0.1:{port}/ready" in " ".join(api["healthcheck"]["test"])


def test_executor_stop_grace_outlasts_its_shutdown_grace(services: dict[str, Any]) -> None:
    executor = services["executor"]
    env = environment(executor)
    grace = float(env.get("TICKWORK_SHUTDOWN_GRACE_SECONDS", Settings().shutdown_grace_seconds))
    stop = seconds(executor.get("stop_grace_period", DEFAULT_STOP_GRACE))
    assert stop >= grace + GRACE_MARGIN_SECONDS, (stop, grace)


# Each connection URL: its scheme, the service it points at, and that service's settings
# its user, password and database (or virtual host) must be.
CONNECTIONS = {
    "TICKWORK_DATABASE_URL": (
        "mysql+asyncmy",
        "mariadb",
        ("MARIADB_USER", "MARIADB_PASSWORD", "MARIADB_DATABASE"),
    ),
    "TICKWORK_AMQP_URL": (
        "amqp",
        "rabbitmq",
        ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_VHOST"),
    ),
}


def test_connection_urls_match_the_brokers_they_point_at(services: dict[str, Any]) -> None:
    for name in TICKWORK_SERVICES:
        env = environment(services[name])
        for variable, (scheme, host, account) in CONNECTIONS.items():
            url = urlsplit(env[variable])
            assert (url.scheme, url.hostname) == (scheme, host), (name, variable)
            server = environment(services[host])
            named = (url.username, url.password, url.path.removeprefix("/"))
            assert [unquote(part or "") for part in named] == [server[key] for key in account]


def test_every_tickwork_setting_is_a_real_setting_with_a_valid_value(
    services: dict[str, Any],
) -> None:
    for name in TICKWORK_SERVICES:
        assert_real_settings(environment(services[name]), name)


def test_a_second_pool_has_executors_of_its_own(services: dict[str, Any]) -> None:
    """`executor` serves `default`; `executor-batch` serves only `batch`, from the same
    image, with the same stop grace and wiring as any executor."""
    default, batch = services["executor"], services["executor-batch"]
    pools_of = {
        name: Settings(
            executor_pools=environment(service).get("TICKWORK_EXECUTOR_POOLS", "default")
        ).executor_pools
        for name, service in (("executor", default), ("executor-batch", batch))
    }
    assert pools_of == {"executor": ["default"], "executor-batch": ["batch"]}
    assert batch["command"] == default["command"] == ["executor"]
    assert batch["image"] == default["image"]
    assert batch["stop_grace_period"] == default["stop_grace_period"]
    assert batch["depends_on"] == default["depends_on"]
    env = environment(batch)
    assert env["TICKWORK_DATABASE_URL"] == environment(default)["TICKWORK_DATABASE_URL"]
    assert_real_settings(env, "executor-batch")
