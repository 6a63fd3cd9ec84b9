"""Where the deployment files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
COMPOSE_ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
TICKWORK_SERVICES = ("migrate", "api", "planner", "executor")
