"""deploy/Dockerfile and .dockerignore: pinned bases, a runtime stage without build tools
running as a non-root user with `tickwork` as entrypoint, and a build context that holds
what the install needs and nothing secret. Docker does not run here, so the image's
install step is replayed in a fresh virtualenv from exactly the files Docker would send."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.dockerfile_stages import Stage, stages
from tests.deploy.dockerignore import DockerIgnore
from tests.deploy.layout import DOCKERFILE, DOCKERIGNORE, ROOT
from tests.harness.install import install_into_new_venv

PINNED = r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$"
BUILD_TOOLS = {"build-essential", "gcc", "g++", "make", "clang", "python3-dev", "libc6-dev"}


@pytest.fixture(scope="module")
def image_stages() -> list[Stage]:
    return stages(DOCKERFILE)


@pytest.fixture(scope="module")
def ignore() -> DockerIgnore:
    return DockerIgnore(DOCKERIGNORE.read_text())


def test_is_multi_stage_and_every_base_is_pinned_by_tag_and_digest(
    image_stages: list[Stage],
) -> None:
    assert len(image_stages) >= 2
    for stage in image_stages:
        if stage.image in {s.name for s in image_stages}:
            continue  # FROM an earlier stage
        assert re.match(PINNED, stage.image), f"base not pinned by tag@digest: {stage.image}"


def test_runtime_stage_runs_tickwork_as_an_unprivileged_user(image_stages: list[Stage]) -> None:
    runtime = image_stages[-1]
    user = runtime.last("USER")
    assert user is not None, "the final stage must set USER"
    uid = user.value[0].split(":")[0]
    assert uid not in {"root", "0"}
    entrypoint = runtime.last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.json, "exec form, so signals reach the process"
    assert entrypoint.value[-1] == "tickwork", entrypoint.value


def test_runtime_stage_installs_no_build_tools_and_copies_the_built_environment(
    image_stages: list[Stage],
) -> None:
    runtime = image_stages[-1]
    for run in runtime.all("RUN"):
        words = set(shlex.split(" ".join(run.value).replace(";", " ").replace("&&", " ")))
        assert not words & BUILD_TOOLS, f"build tools in the runtime stage: {run.original}"
        assert "pip" not in words, f"the runtime stage installs nothing with pip: {run.original}"
    copies = [c for c in runtime.all("COPY") if any(f.startswith("--from=") for f in c.flags)]
    assert copies, "the runtime stage takes its virtualenv from the build stage"


def test_build_context_has_what_the_copies_need_and_nothing_local(
    image_stages: list[Stage], ignore: DockerIgnore
) -> None:
    context = set(ignore.context(ROOT))
    for stage in image_stages:
        for copy in stage.all("COPY"):
            if any(flag.startswith("--from=") for flag in copy.flags):
                continue
            for source in copy.value[:-1]:
                source = source.rstrip("/")
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                sent = [p for p in context if p == source or p.startswith(source + "/")]
                assert sent, f"COPY {source}: .dockerignore leaves nothing of it"
    for needed in [
        "pyproject.toml",
        "README.md",
        "tickwork/cli.py",
        "shared/pyproject.toml",
        "shared/tickwork_shared/migrate.py",
        "shared/tickwork_shared/migrations/env.py",
        "services/api/pyproject.toml",
        "services/planner/pyproject.toml",
        "services/executor/pyproject.toml",
        "requirements/runtime.lock",
    ]:
        assert needed in context, f"{needed} is not sent to the builder"
    assert any(p.startswith("shared/tickwork_shared/migrations/versions/") for p in context)
    for local in [
        ".env",
        "deploy/k8s/secrets.env",
        ".venv/bin/python",
        ".git/HEAD",
        "tickwork.db",
        "tickwork-dev-admin.key",
        "shared/tickwork_shared/__pycache__/settings.cpython-311.pyc",
        "shared/tickwork_shared.egg-info/PKG-INFO",
        "tests/conftest.py",
    ]:
        assert ignore.excluded(local), f"{local} would be sent to the builder"


def test_dockerignore_matcher_follows_docker_rules() -> None:
    rules = DockerIgnore("*\n!src\nsrc/**/*.tmp\n!src/keep.tmp\n")
    assert rules.excluded("README.md")
    assert not rules.excluded("src/a/b.py")
    assert rules.excluded("src/a/b.tmp")
    assert rules.excluded("src/b.tmp")
    assert not rules.excluded("src/keep.tmp")


def _install_sources(image_stages: list[Stage]) -> tuple[list[str], str | None]:
    """The local folders the build stage's `pip install` names, in its order, and the
    lock file it installs first with `--require-hashes -r` (None if none)."""
    for stage in image_stages[:-1]:
        for run in stage.all("RUN"):
            words = shlex.split(" ".join(run.value))
            if "pip" in words and "install" in words:
                lock = None
                if "--require-hashes" in words and "-r" in words:
                    lock = words[words.index("-r") + 1]
                return [w for w in words if w == "." or w.startswith("./")], lock
    raise AssertionError("no pip install in the build stage")


@pytest.mark.timeout(600)
def test_the_image_install_gives_a_working_tickwork(
    image_stages: list[Stage], ignore: DockerIgnore, tmp_path: Path
) -> None:
    """What the build stage installs, from what .dockerignore lets through, non-editable:
    the `tickwork` command runs and `tickwork migrate` finds its migrations."""
    context = tmp_path / "context"
    for relative in ignore.context(ROOT):
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    sources, lock = _install_sources(image_stages)
    assert set(sources) >= {"./shared", "./services/planner", "./services/executor", "."}
    # Dependencies only from the hashed lock (the image installs nothing unpinned).
    assert lock == "requirements/runtime.lock"
    assert (context / lock).is_file(), f"{lock} is not sent to the builder"
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    install = install_into_new_venv(venv, sources, cwd=context, lock=lock)
    assert install.returncode == 0, install.stderr
    tickwork = str(venv / "bin" / "tickwork")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env["TICKWORK_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'image.db'}"
    env["TICKWORK_LOG_FORMAT"] = "human"
    for argv in ([tickwork, "--help"], [tickwork, "migrate"], [tickwork, "migrate"]):
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    installed = subprocess.run(
        [python, "-c", "import tickwork_shared; print(tickwork_shared.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in installed, "installed into the venv, not linked to the work tree"
