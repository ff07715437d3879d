"""Writers of one process take turns for SQLite's write lock: none is passed over for long (the soak's 503s)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from store.engine import make_engine, write_transaction


def test_writers_of_one_process_take_turns(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE turns (writer INTEGER)"))
    writers, rounds = 6, 12
    commits = 0  # transactions committed so far, counted under the write lock
    passed_over: list[int] = []  # per acquisition: how many others committed while this writer waited

    def write(writer: int) -> None:
        nonlocal commits
        for _ in range(rounds):
            seen = commits
            with write_transaction(engine, wait_s=120) as conn:
                passed_over.append(commits - seen)
                conn.execute(text("INSERT INTO turns VALUES (:w)"), {"w": writer})
                time.sleep(0.02)  # hold the lock a while, as an ingest does
                commits += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM turns")).scalar() == writers * rounds
    # In turn, a writer waits for the others once at most; SQLite's busy handler alone let some wait dozens.
    assert max(passed_over) <= 2 * (writers - 1), sorted(passed_over)[-10:]
