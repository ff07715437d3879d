"""Moved to `jobs.tasks`; kept so existing imports (`from needcast.jobs import run_training`) still work."""

from jobs.tasks import TrainingResult, feedback_encoder, ingest_files, refresh_served, run_training

__all__ = ["TrainingResult", "feedback_encoder", "ingest_files", "refresh_served", "run_training"]
