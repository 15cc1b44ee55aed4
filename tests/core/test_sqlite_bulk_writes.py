"""SQLite for bulk writers: they take turns, their checkpoint included (db.engine.writer_turn), and the log is checkpointed at about 100 MB."""

from __future__ import annotations

import threading
import time

import pytest

from yikatong.db.engine import make_engine, writer_turn

pytestmark = pytest.mark.own_database  # a SQLite file: what it measures is SQLite's


def test_a_second_writer_waits_for_the_first_ones_turn_to_end(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    inside, events = threading.Event(), []

    def second_writer() -> None:
        inside.wait()
        with writer_turn(engine):
            events.append("second in")

    other = threading.Thread(target=second_writer)
    other.start()
    with writer_turn(engine):
        inside.set()
        time.sleep(0.3)  # the other thread is waiting at the lock meanwhile
        events.append("first out")
    other.join(timeout=5)
    assert events == ["first out", "second in"]
    assert (tmp_path / "turns.db-writer-lock").exists()


def test_an_in_memory_database_needs_no_turns():
    engine = make_engine("sqlite://")
    with writer_turn(engine), writer_turn(engine):  # would deadlock if it took a lock
        pass


def test_sqlite_checkpoints_its_log_at_about_100_mb():
    """Fewer, larger checkpoints for bulk clearing commits (db.engine._sqlite_pragmas)."""
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 25_000
