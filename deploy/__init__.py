"""Deployment: deploy/compose.yaml (Docker) and deploy/run-local (the same services as local processes)."""
