"""Structured (JSON lines) logging for the server: one object per event, never a feedback text.

Request bodies are never logged; the access log holds method, path with query, status and client only. An
exception is logged as its type and the place it was raised, never its message or traceback: the message of
an error raised while handling a request may quote the request (uvicorn logs every exception that reaches it,
"Exception in ASGI application", with its traceback).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

__all__ = ["ExceptionTypeOnly", "server_log_config"]


class ExceptionTypeOnly(logging.Filter):
    """Replace a record's exception (message and traceback) by its type and innermost `file:line in function`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            frames = traceback.extract_tb(tb)
            where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} in {frames[-1].name}" \
                if frames else ""
            record.msg = f"{record.getMessage()}: {kind.__name__}{where}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        record.stack_info = None
        return True

_JSON = "pythonjsonlogger.json.JsonFormatter"
_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def server_log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and the app: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
               "filters": ["exception_type_only"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": _JSON, "fmt": _FIELDS, "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI-coloured copy
        }},
        "filters": {"exception_type_only": {"()": ExceptionTypeOnly}},
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
