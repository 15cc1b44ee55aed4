"""Named points where a fault test may kill this process, to prove a use case resumes.

A long use case (a benefits run, a clearing day, a migration of data) calls
`killpoint("benefits.run.after_submit")` at each boundary where a crash must leave the
database and the files in a state the next run resumes from. In production nothing is armed
and a killpoint is one test of a module global. A fault test (tests/faults/harness.py,
docs/fault-testing.md) runs the command as a subprocess with

    YKT_KILL_AT=benefits.run.after_submit        # the first time that point is reached
    YKT_KILL_AT=benefits.run.after_file@3        # the third time (a point inside a loop)
    YKT_KILL_AT=a.point,another.point@2          # whichever comes first

and the process sends itself SIGKILL there: no `finally`, no `atexit`, no flush, no rollback
sent to the database (PostgreSQL rolls back what was uncommitted when the connection drops),
exactly what a power cut or the OOM killer does. `YKT_KILL_TRACE=<file>` appends the name of
every point reached, one a line, so a test can list the points a command passes through and
kill at each of them.

Names are dotted, lower case, `<domain>.<use case>.<where>`; a point is announced on stderr
just before the kill, so a test's failure message says where the process died.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading

KILL_AT = "YKT_KILL_AT"
KILL_TRACE = "YKT_KILL_TRACE"

_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")

# Armed points: name -> the count at which to die (1 = the first time). None: nothing armed.
_armed: dict[str, int] | None = None
# Where reached points are written, or None.
_trace: str | None = None
# How often each point was reached in this process (only counted when armed or traced).
_reached: dict[str, int] = {}
_counting = threading.Lock()


def parse(spec: str) -> dict[str, int]:
    """`name[@N][,name[@N]…]` → {name: N}; a malformed entry is a ValueError (a typo in a fault
    test must not pass silently as a run that was never killed)."""
    points: dict[str, int] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        name, _, count = entry.partition("@")
        if not _NAME.match(name) or (count and not (count.isdigit() and int(count) >= 1)):
            raise ValueError(f"{KILL_AT}: {entry!r} is not name or name@N (N ≥ 1)")
        points[name] = int(count) if count else 1
    return points


def configure(kill_at: str | None = None, trace: str | None = None) -> None:
    """Arm from the given values (None: nothing armed, no trace) and forget counts. The module
    arms itself from the environment on import; tests that run in-process call this."""
    global _armed, _trace
    _armed = parse(kill_at) or None if kill_at else None
    _trace = trace or None
    _reached.clear()


def configure_from_env() -> None:
    configure(os.environ.get(KILL_AT), os.environ.get(KILL_TRACE))


def killpoint(name: str) -> None:
    """Die here (SIGKILL) if this point is armed and reached for the armed time; else nothing."""
    if _armed is None and _trace is None:
        return
    with _counting:  # (a run may reach points from several threads: benefits.runs)
        count = _reached[name] = _reached.get(name, 0) + 1
        if _trace is not None:
            _write_trace(name)
    if _armed is not None and _armed.get(name) == count:
        _die(name, count)


def reached(name: str) -> int:
    """How many times `name` was reached in this process (counted only while armed or traced)."""
    return _reached.get(name, 0)


def _write_trace(name: str) -> None:
    # One write per line on a file opened for append: lines from a killed process are whole.
    fd = os.open(_trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{name}\n".encode())
    finally:
        os.close(fd)


def _die(name: str, count: int) -> None:
    try:
        os.write(sys.stderr.fileno(), f"killpoint {name}@{count}: SIGKILL\n".encode())
    except (OSError, ValueError, AttributeError):  # no usable stderr: die all the same
        pass
    os.kill(os.getpid(), signal.SIGKILL)


configure_from_env()
