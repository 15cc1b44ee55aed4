"""Run the outbox dispatcher against JetStream and kill the process (os._exit, no cleanup,
no commit) right after the N-th publish was acknowledged: the crash between publish and
marking the outbox rows published.

    python -m tests.events.crashing_dispatcher DB_URL NATS_URL NAMESPACE N
"""

from __future__ import annotations

import os
import sys

from yikatong.core.settings import Settings
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.nats import JetStreamBus
from yikatong.platform import Platform

CRASH_EXIT_CODE = 70


class CrashAfter:
    def __init__(self, bus: JetStreamBus, publishes: int) -> None:
        self.bus, self.left = bus, publishes

    def publish(self, event) -> None:
        self.bus.publish(event)
        self.left -= 1
        if self.left == 0:
            os._exit(CRASH_EXIT_CODE)

    def subscribe(self, event_type, handler) -> None:
        raise NotImplementedError


def main() -> None:
    database_url, nats_url, namespace, publishes = sys.argv[1:5]
    platform = Platform(Settings(database_url=database_url))
    bus = JetStreamBus(nats_url, namespace=namespace)
    dispatch_pending(platform, CrashAfter(bus, int(publishes)))
    sys.exit("the dispatcher finished without crashing")


if __name__ == "__main__":
    main()
