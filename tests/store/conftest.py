"""Fixtures of the storage tests: a throwaway PostgreSQL server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import skip_unless_required
from tests.postgres import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """An SQLAlchemy URL of a fresh PostgreSQL server (skipped without one, except in CI)."""
    with postgres_server() as url:
        if url is None:
            skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it")
        yield url
