"""End to end against a real uvicorn: forecasts with and without keys, roles, CSV, models and ingestion."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.limits import MAX_BODY_BYTES
from tests.e2e.conftest import Server


def test_probes_need_no_key(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready" and ready["model_version"] == "1"


def test_forecasts_need_a_planner_key(server: Server) -> None:
    with server.client() as anonymous:
        assert anonymous.get("/v1/forecasts").status_code == 401
    with server.client("not-a-key") as wrong:
        response = wrong.get("/v1/forecasts")
        assert response.status_code == 401 and "detail" in response.json()
    with server.client("portal-key") as portal:
        assert portal.get("/v1/forecasts").status_code == 403
    with server.client("plan-key") as planner:
        assert planner.get("/v1/forecasts", headers={"X-API-Key": "plan-key"}).status_code == 200


def test_forecasts_filter_and_keep_interval_order(server: Server) -> None:
    with server.client("plan-key") as c:
        body = c.get("/v1/forecasts").json()
        assert body["model"]["name"] == "needcast-demand" and body["model"]["version"] == "1"
        assert body["freq"] == "D" and body["data_until"] == "2026-06-30"
        items = body["items"]
        assert len(items) == 12 * 28  # 3 services x 2 segments x 2 regions, 28 days each
        assert all(0 <= i["p10"] <= i["p50"] <= i["p90"] for i in items)
        assert min(i["date"] for i in items) == "2026-07-01"

        one = c.get("/v1/forecasts", params={"service": "svc1", "segment": "seg0", "region": "north",
                                             "horizon": 7}).json()["items"]
        assert len(one) == 7 and {(i["service"], i["segment"], i["region"]) for i in one} == {
            ("svc1", "seg0", "north")}

        text = c.get("/v1/forecasts", params={"service": "svc0", "format": "csv"}).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 4 * 28 and set(rows[0]) == {"service", "segment", "region", "date", "p10", "p50", "p90",
                                                         "mean"}

        # A missing filter aggregates on request, coherently with the bottom level.
        total = c.get("/v1/forecasts", params={"segment": "seg0", "service": "svc1", "aggregate": "true"}).json()
        assert len(total["items"]) == 28 and {i["region"] for i in total["items"]} == {"*"}
        parts = c.get("/v1/forecasts", params={"segment": "seg0", "service": "svc1"}).json()["items"]
        first = total["items"][0]
        bottom = [i for i in parts if i["date"] == first["date"]]
        assert len(bottom) == 2 and first["mean"] == pytest.approx(sum(i["mean"] for i in bottom))
        assert first["p90"] < sum(i["p90"] for i in bottom) and first["p10"] <= first["p50"] <= first["p90"]

        missing = c.get("/v1/forecasts", params={"service": "nope"})
        assert missing.status_code == 404 and "service" in missing.json()["detail"]
        bad = c.get("/v1/forecasts", params={"horizon": "0"})
        assert bad.status_code == 422 and "horizon" in str(bad.json()["detail"])


def test_models_report_the_live_champion(server: Server) -> None:
    with server.client("plan-key") as c:
        body = c.get("/v1/models").json()
        assert body["live_version"] == "1"
        assert body["champion"]["version"] == "1" and body["champion"]["metrics"]["wape"] > 0


def test_ingestion_route_reports_good_bad_and_duplicate_rows(server: Server) -> None:
    rows = [
        {"date": "2026-07-01", "service": "svc0", "segment": "seg0", "region": "center", "count": 4},
        {"date": "2026-07-01", "service": "svc0", "segment": "seg0", "count": "many"},
        {"date": "yesterday", "segment": "seg0"},
    ]
    with server.client("ingest-key") as c:
        first = c.post("/v1/usage", json=rows).json()
        assert first["accepted"] == 1 and first["duplicates"] == 0
        assert [(r["index"], sorted(e["field"] for e in r["errors"])) for r in first["rejected"]] == [
            (1, ["count"]), (2, ["date", "service"])]
        assert c.post("/v1/usage", json=rows[:1]).json()["duplicates"] == 1
        assert c.post("/v1/usage", json={"not": "a list"}).status_code == 422
    with server.client("plan-key") as planner:
        assert planner.post("/v1/usage", json=rows).status_code == 403


ROLE_MATRIX = [
    ("GET", "/v1/forecasts", "planner"),
    ("GET", "/v1/needs/emerging", "planner"),
    ("GET", "/v1/needs/topics", "planner"),
    ("GET", "/v1/segments", "planner"),
    ("GET", "/v1/staffing", "planner"),
    ("GET", "/v1/models", "planner"),
    ("GET", "/v1/segments/seg0/suggestions", "portal"),
    ("POST", "/v1/usage", "ingest"),
    ("POST", "/v1/feedback", "ingest"),
    ("POST", "/v1/train", "admin"),
    ("GET", "/v1/jobs/some-job", "admin"),
    ("POST", "/v1/refresh", "admin"),
]
KEYS = {"planner": "plan-key", "portal": "portal-key", "ingest": "ingest-key", "admin": "admin-key"}


def test_role_matrix_401_without_or_with_a_wrong_key_and_403_for_other_roles(server: Server) -> None:
    with server.client() as c:
        for method, path, role in ROLE_MATRIX:
            assert c.request(method, path).status_code == 401, (method, path)
            assert c.request(method, path, headers={"X-API-Key": "wrong"}).status_code == 401, (method, path)
            for other, key in KEYS.items():
                if other in (role, "admin"):
                    continue
                response = c.request(method, path, headers={"Authorization": f"Bearer {key}"})
                assert response.status_code == 403, (method, path, other)
                assert role in response.json()["detail"]


def test_segments_suggestions_and_staffing(server: Server) -> None:
    with server.client("plan-key") as planner, server.client("portal-key") as portal:
        segments = planner.get("/v1/segments").json()["items"]
        assert {s["segment"] for s in segments} == {"seg0", "seg1"}
        assert all(s["series"] == 6 and s["recent_volume"] > 0 for s in segments)
        for lang in ("ru", "en"):
            body = portal.get("/v1/segments/seg0/suggestions", params={"lang": lang, "limit": 3}).json()
            assert body["segment"] == "seg0" and len(body["items"]) <= 3
        assert portal.get("/v1/segments/nope/suggestions").status_code == 404
        assert portal.get("/v1/segments/seg0/suggestions", params={"lang": "de"}).status_code == 422
        staffing = planner.get("/v1/staffing", params={"service": "svc0", "region": "north",
                                                       "date": "2026-07-01", "wait_minutes": 15}).json()
        [item] = staffing["items"]
        assert item["windows"] >= 1 and item["expected_wait_minutes"] <= 15 and item["handle_minutes"] == 15
        assert planner.get("/v1/staffing", params={"date": "2030-01-01"}).status_code == 404
        assert planner.get("/v1/staffing", params={"wait_minutes": "-1"}).status_code == 422


def _samples(server: Server) -> dict[tuple[str, frozenset], float]:
    with server.client() as anonymous:
        text = anonymous.get("/metrics").text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_are_exposed_without_a_key(server: Server) -> None:
    before = _samples(server)
    with server.client("plan-key") as c:
        c.get("/v1/forecasts", params={"horizon": 1})
    with server.client("ingest-key") as c:
        c.post("/v1/usage", json=[{"date": "2026-07-02", "service": "svc1", "segment": "seg1", "count": 2},
                                  {"date": "someday", "service": "svc1", "segment": "seg1"}])
    after = _samples(server)
    route = {("method", "GET"), ("route", "/v1/forecasts")}
    assert after[("needcast_http_requests_total", frozenset({*route, ("status", "200")}))] >= 1
    assert after[("needcast_http_request_seconds_count", frozenset(route))] >= 1
    assert ("needcast_http_request_seconds_bucket", frozenset({*route, ("le", "0.1")})) in after
    assert after[("needcast_live_model_version", frozenset())] == 1
    assert after[("needcast_forecast_data_age_days", frozenset())] == (date.today() - date(2026, 6, 30)).days
    for name, grown in (("needcast_ingested_rows_total", 1), ("needcast_rejected_rows_total", 1)):
        usage, feedback = (frozenset({("kind", kind)}) for kind in ("usage", "feedback"))
        assert after[(name, usage)] - before.get((name, usage), 0) == grown
        assert (name, feedback) in after  # exposed before any feedback arrives


def test_ingestion_refuses_too_many_rows_or_too_large_a_body_with_413(server: Server) -> None:
    row = {"date": "2026-07-03", "service": "svc0", "segment": "seg0", "region": "center", "count": 1}
    with server.client("ingest-key") as c:
        many = c.post("/v1/usage", json=[row] * 10_001)
        assert many.status_code == 413 and "10001 rows" in many.json()["detail"]
        assert c.post("/v1/usage", json=[row] * 10_000).status_code == 200
        assert c.post("/v1/feedback", json=[{"created_at": "2026-07-03", "text": "x"}] * 10_001).status_code == 413

        big = b"[" + b",".join([json.dumps({**row, "pad": "x" * 1000}).encode()] * 34_000) + b"]"
        assert len(big) > MAX_BODY_BYTES
        declared = c.post("/v1/usage", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and declared.json()["detail"].startswith("body: larger than 32 MiB")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts the bytes as they arrive
            yield from (big[i : i + 2**20] for i in range(0, len(big), 2**20))

        streamed = c.post("/v1/feedback", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "32 MiB" in streamed.json()["detail"]
