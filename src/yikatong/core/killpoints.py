"""Named points where a fault test may kill the process (SIGKILL), to prove a long use case
resumes to the same result. `killpoint(name)` does nothing unless the environment variable
YKT_KILL_AT names that point; then the process dies at once, with no cleanup, as a power cut
or an OOM kill would leave it."""

from __future__ import annotations

import os
import signal


def killpoint(name: str) -> None:
    if os.environ.get("YKT_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
