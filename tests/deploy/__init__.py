"""Checks of the deployment files (deploy/, compose.yaml, .dockerignore) that run here."""
