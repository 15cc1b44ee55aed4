"""A tiny resumable command for the harness's own tests: `python -m tests.faults.tiny STEPS`.

Writes rows 1..STEPS of `fault_tiny` to the platform's database (YKT_DATABASE_URL), one
transaction per row, resuming after the last committed one: the shape of every resumable
use case (do a step, commit, go on from what is committed). Killpoints: `tiny.inside` in each
transaction before its commit, `tiny.after_commit` after it.
"""

from __future__ import annotations

import sys

from sqlalchemy import text

from yikatong.core.killpoints import killpoint
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine


def main(steps: int) -> None:
    engine = make_engine(Settings.from_env().database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS fault_tiny "
                                "(step integer PRIMARY KEY, square integer NOT NULL)"))
        done = connection.execute(text("SELECT coalesce(max(step), 0) FROM fault_tiny")).scalar_one()
    for step in range(done + 1, steps + 1):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO fault_tiny VALUES (:step, :square)"),
                               {"step": step, "square": step * step})
            killpoint("tiny.inside")
        killpoint("tiny.after_commit")
    print(f"tiny: {steps} steps, resumed after {done}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
