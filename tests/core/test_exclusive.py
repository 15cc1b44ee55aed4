"""db.exclusive: one holder of a name at a time, across threads and processes, on SQLite
and PostgreSQL; a second caller gets its own error at once; the name is free again when the
holder is done, fails, or is killed (so a killed benefits run resumes at once)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from yikatong.db.engine import make_engine
from yikatong.db.exclusive import exclusively

pytestmark = [pytest.mark.db, pytest.mark.db_unseen]  # SQLite: a lock file, no connection


class Busy(Exception):
    pass


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def held_elsewhere(engine, name: str) -> bool:
    """Whether another thread (its own connection or file) is refused `name` now."""
    outcome = []

    def try_it() -> None:
        try:
            with exclusively(engine, name, busy=Busy()):
                outcome.append(False)
        except Busy:
            outcome.append(True)

    thread = threading.Thread(target=try_it)
    thread.start()
    thread.join()
    return outcome[0]


def test_a_second_holder_is_refused_until_the_first_is_done_or_fails(engine):
    with exclusively(engine, "run:a", busy=Busy()):
        assert held_elsewhere(engine, "run:a")
        assert not held_elsewhere(engine, "run:b")
    assert not held_elsewhere(engine, "run:a")
    with pytest.raises(RuntimeError, match="the holder fails"), \
            exclusively(engine, "run:a", busy=Busy()):
        raise RuntimeError("the holder fails")
    assert not held_elsewhere(engine, "run:a")


def test_a_killed_holder_leaves_the_name_free_at_once(engine, database_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from yikatong.db.engine import make_engine\n"
         "from yikatong.db.exclusive import exclusively\n"
         f"with exclusively(make_engine({database_url!r}), 'run:a', busy=RuntimeError()):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert held_elsewhere(engine, "run:a")
    finally:
        holder.kill()  # SIGKILL: no finally block of the holder runs
        holder.wait()
    deadline = time.monotonic() + 10  # PostgreSQL's backend ends on the closed socket
    while held_elsewhere(engine, "run:a"):
        assert time.monotonic() < deadline, "the killed holder's lock outlived it"
        time.sleep(0.05)


def test_serialised_makes_a_second_transaction_wait_and_read_what_the_first_committed(engine):
    """PostgreSQL: the second waits at the lock and then sees the first's row; SQLite gets
    the same from its one writer (BEGIN IMMEDIATE), with nothing to do here."""
    from sqlalchemy import text

    from yikatong.db.engine import make_session_factory
    from yikatong.db.exclusive import serialised

    sessions = make_session_factory(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe_flags (n INTEGER)"))
    first_holds, counts = threading.Event(), []

    def second() -> None:
        first_holds.wait()
        with sessions() as session:
            serialised(session, "probe")
            seen = session.execute(text("SELECT count(*) FROM probe_flags")).scalar()
            if not seen:  # the check-then-insert the lock protects
                session.execute(text("INSERT INTO probe_flags VALUES (2)"))
            session.commit()
            counts.append(seen)

    thread = threading.Thread(target=second)
    thread.start()
    with sessions() as session:
        serialised(session, "probe")
        assert session.execute(text("SELECT count(*) FROM probe_flags")).scalar() == 0
        first_holds.set()
        time.sleep(0.3)  # the second is at the lock (PostgreSQL) or at BEGIN (SQLite)
        session.execute(text("INSERT INTO probe_flags VALUES (1)"))
        session.commit()
    thread.join()
    assert counts == [1]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM probe_flags")).scalars().all() == [1]


@pytest.mark.no_db
def test_an_in_memory_sqlite_database_is_held_by_a_lock_of_this_process():
    engine = make_engine("sqlite://")
    with exclusively(engine, "run:a", busy=Busy()):
        assert held_elsewhere(engine, "run:a")
    assert not held_elsewhere(engine, "run:a")
