"""core.killpoints: the spec, the counting, the trace, and a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from yikatong.core import killpoints
from yikatong.core.killpoints import killpoint


@pytest.fixture(autouse=True)
def unarmed_after():
    yield
    killpoints.configure()


def test_spec_names_a_point_and_optionally_the_time_it_is_reached():
    assert killpoints.parse("benefits.run.after_submit") == {"benefits.run.after_submit": 1}
    assert killpoints.parse("a.b@3, c") == {"a.b": 3, "c": 1}
    assert killpoints.parse("") == {}


@pytest.mark.parametrize("spec", ["a.b@0", "a.b@x", "A.B", "a..b", "a b", "a@1@2"])
def test_a_malformed_spec_is_refused(spec):
    with pytest.raises(ValueError, match="YKT_KILL_AT"):
        killpoints.parse(spec)


def test_unarmed_a_killpoint_does_nothing_and_counts_nothing():
    killpoints.configure()
    killpoint("a.b")
    assert killpoints.reached("a.b") == 0


def test_traced_points_are_counted_and_written_one_a_line(tmp_path):
    trace = tmp_path / "trace.txt"
    killpoints.configure(trace=str(trace))
    for name in ("a.b", "c", "a.b"):
        killpoint(name)
    assert killpoints.reached("a.b") == 2
    assert trace.read_text() == "a.b\nc\na.b\n"


def test_armed_for_a_later_time_the_earlier_ones_pass():
    killpoints.configure("a.b@3")
    killpoint("a.b")
    killpoint("a.b")
    killpoint("other")
    assert killpoints.reached("a.b") == 2


def test_the_armed_point_kills_the_process_with_sigkill(tmp_path):
    code = ("from yikatong.core.killpoints import killpoint\n"
            "killpoint('x.y'); print('first', flush=True)\n"
            "killpoint('x.y'); print('second', flush=True)\n")
    env = {**os.environ, "YKT_KILL_AT": "x.y@2", "YKT_KILL_TRACE": str(tmp_path / "t"),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == "first\n"
    assert "killpoint x.y@2: SIGKILL" in done.stderr
    assert (tmp_path / "t").read_text() == "x.y\nx.y\n"
