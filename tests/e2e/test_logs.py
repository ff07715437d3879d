"""The server's logs are JSON lines and never hold a feedback text or an API key."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from needcast.logs import server_log_config
from tests.e2e.conftest import Server


def test_logs_are_json_lines_without_texts_or_keys(server: Server) -> None:
    secret = "Меня зовут Секретова Анна, жалоба на очередь в окне семь"
    with server.client("admin-key") as c:
        posted = c.post("/v1/feedback", json=[{
            "id": "log-probe-1", "created_at": "2026-06-29T10:00:00", "segment": "seg0", "service": "svc0",
            "text": secret, "rating": 2,
        }])
        assert posted.status_code == 200 and posted.json()["accepted"] == 1
        assert c.get("/v1/forecasts", params={"service": "svc0", "horizon": 1}).status_code == 200
    lines = [line for line in server.log.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and {"time", "level", "logger", "message"} <= set(records[-1])
    # Every line is structured (a library printing plain text would show up here).
    assert [line for line in lines if not line.startswith("{")] == []
    access = [r["message"] for r in records if r["logger"] == "uvicorn.access"]
    assert any("/v1/feedback" in m and "200" in m for m in access)
    text = "\n".join(lines)
    for fragment in ("Секретова", "очередь в окне", "admin-key"):
        assert fragment not in text


def test_an_exception_is_logged_as_its_type_and_place_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11, finding 4: on a 500 uvicorn logged the traceback, whose message quoted the request body."""
    logging.config.dictConfig(server_log_config("INFO"))
    try:
        raise ValueError("cannot store {'text': 'Секретова Анна, +7 912 345-67-89, anna.secret@mail.ru'}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    record = json.loads(lines[-1])
    assert record["message"].startswith("Exception in ASGI application: ValueError at test_logs.py:")
    assert not [line for line in lines if "Секретова" in line or "912" in line or "anna.secret" in line]
    assert "exc_info" not in record and "Traceback" not in lines[-1]
