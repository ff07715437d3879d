"""Revision 0003: the previous release's `training_jobs` becomes the job queue, its rows kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from jobs import queue
from store import migrations
from store.engine import make_engine
from store.migrate import upgrade
from store.tables import metadata

PREVIOUS = Path(__file__).parents[1] / "fixtures" / "previous_release" / "needcast.db"


def _diffs_of_jobs(engine) -> list:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    return [d for d in diffs if "jobs" in repr(d)]


def test_the_previous_release_jobs_survive_and_active_ones_are_failed(tmp_path: Path) -> None:
    shutil.copy(PREVIOUS, tmp_path / "needcast.db")
    engine = make_engine(f"sqlite:///{tmp_path}/needcast.db")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        before = conn.execute(text("SELECT id, state, progress FROM training_jobs")).all()
        # That release's race: two trainings running at once (issue 11 item 6).
        for job_id in ("race-a", "race-b"):
            conn.execute(text("INSERT INTO training_jobs (id, state, progress, params, pid, created_at) "
                              "VALUES (:id, 'running', 'fitting', '{}', 4242, '2026-11-30 10:00:00')"), {"id": job_id})
    assert before and all(state in ("succeeded", "failed") for _, state, _ in before)

    upgrade(engine)
    assert "training_jobs" not in inspect(engine).get_table_names()
    assert _diffs_of_jobs(engine) == []  # the migrated table is what store.tables declares
    with engine.connect() as conn:
        after = {r.id: r for r in conn.execute(text("SELECT id, kind, state, progress, attempts FROM jobs"))}
    for job_id, state, progress in before:
        assert (after[job_id].kind, after[job_id].state, after[job_id].progress) == ("train", state, progress)
    assert {after[j].state for j in ("race-a", "race-b")} == {"failed"}
    assert "upgrade" in after["race-a"].progress

    new = queue.enqueue(engine, "train")
    with pytest.raises(queue.JobAlreadyQueued):
        queue.enqueue(engine, "train")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET state = 'queued' WHERE id = 'race-a'"))
    assert queue.get_job(engine, new)["state"] == "queued"


def test_the_revision_goes_down_and_up_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    upgrade(engine)
    queue.enqueue(engine, "refresh")
    finished = queue.enqueue(engine, "train")
    with engine.connect() as conn:
        conn.execute(text("UPDATE jobs SET state = 'succeeded' WHERE id = :id"), {"id": finished})
        conn.commit()
        config = Config()
        config.set_main_option("script_location", str(Path(migrations.__file__).parent))
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
        conn.commit()
        assert conn.execute(text("SELECT id FROM training_jobs")).scalars().all() == [finished]
    upgrade(engine)
    assert _diffs_of_jobs(engine) == []
