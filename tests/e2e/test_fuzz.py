"""Schema-driven fuzz of the app's own OpenAPI against a real uvicorn with a trained champion: never a 5xx.

Schemathesis draws valid and invalid parameters and bodies for every operation of `/openapi.json`; each is sent
with the admin key (so routes are exercised past 401) and its answer checked: no server error, a documented
status, a body matching its schema, and every error a JSON `{"detail": ...}`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import CheckContext, GenerationMode, Response
from schemathesis.core.failures import FailureGroup
from sqlalchemy import select

from needcast.settings import Settings
from store.engine import get_engine
from store.tables import training_jobs
from tests.e2e.conftest import Server

ADMIN = {"Authorization": "Bearer admin-key"}
EXAMPLES = 30
# Operations that start work (a training process, a recomputation) get a few examples, not a campaign.
STARTS_WORK = {("POST", "/v1/train"): 2, ("POST", "/v1/refresh"): 2}
CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})


def errors_are_json_detail(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx and 5xx is `{"detail": ...}` (CONTRACT §3)."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "detail" not in body:
        raise AssertionError(f"{response.status_code} without a JSON detail: {response.text[:300]}")
    return True


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str, examples: int,
          seen: list[int]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=ADMIN, timeout=60)
        seen.append(response.status_code)
        case.validate_response(response, headers=ADMIN, additional_checks=[errors_are_json_detail])

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # an operation with nothing to make invalid has no negative cases; it must have positive ones


def test_no_operation_answers_a_server_error(server: Server, trained: Settings) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    # The operations that start work go last, so a training process does not slow the rest of the fuzz.
    operations.sort(key=lambda op: (op.method.upper(), op.path) in STARTS_WORK)
    started, statuses, failures = time.monotonic(), [], []
    try:
        for operation in operations:
            key = (operation.method.upper(), operation.path)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(operation, mode, server.url, STARTS_WORK.get(key, EXAMPLES), statuses)
                except (Exception, FailureGroup) as exc:  # report every operation's failure, not only the first
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    finally:
        _stop_training(trained)
    print(f"fuzz: {len(operations)} operations, {len(statuses)} requests in {time.monotonic() - started:.1f} s, "
          f"statuses {sorted(set(statuses))}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) >= 15 and not [s for s in statuses if s >= 500]


def _stop_training(settings: Settings) -> None:
    """A training job the fuzz started runs in its own session: end it rather than leave it behind."""
    j = training_jobs
    with get_engine(settings.db_url).connect() as conn:
        pids = conn.execute(select(j.c.pid).where(j.c.state.in_(("queued", "running")))).scalars().all()
    for pid in filter(None, pids):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
