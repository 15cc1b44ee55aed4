"""The clearing benchmark (bench/clearing_throughput.py) still runs end to end, on a tiny day:
every record generated is stored and accounted for, no tap is left unrated and nothing is
flagged. Its timings are printed, never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "clearing_throughput.py"


def test_the_clearing_benchmark_clears_a_small_day_in_full(tmp_path):
    run = subprocess.run([sys.executable, str(BENCH), "--records", "3000", "--processes", "2"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    stored = re.search(r"records stored ([\d,]+): cleared ([\d,]+), waiting for the national house ([\d,]+), "
                       r"rejected ([\d,]+); taps re-rated ([\d,]+) \(([\d,]+) not rateable\); exceptions (.+)",
                       run.stdout)
    assert stored, run.stdout
    stored_n, cleared, waiting, rejected, rated, not_rated = (int(g.replace(",", "")) for g in stored.groups()[:6])
    assert stored_n == cleared + waiting == 3000 and rejected == 0
    assert rated > 2000 and not_rated == 0 and stored.group(7) == "none"
    assert "ratio clearing / bare load" in run.stdout
