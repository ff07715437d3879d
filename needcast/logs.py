"""Structured (JSON lines) logging for the server: one object per event, never a feedback text.

Request bodies are never logged; the access log holds method, path with query, status and client only.
"""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

__all__ = ["server_log_config"]

_JSON = "pythonjsonlogger.json.JsonFormatter"
_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def server_log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and the app: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": _JSON, "fmt": _FIELDS, "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI-coloured copy
        }},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # Library chatter stays at warnings; the app's own loggers report at `level`.
            "mlflow": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "pymorphy3": {"level": "WARNING"},
            "sentence_transformers": {"level": "WARNING"},
            "transformers": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }
