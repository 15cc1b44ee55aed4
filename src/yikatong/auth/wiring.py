"""The login and call throttle (auth/throttle.py), built on first use from the settings; a
test swaps in one with its own limits with `platform.provide(Throttle, Throttle(...))`."""

from __future__ import annotations


def configure(platform) -> None:
    from yikatong.auth.throttle import Throttle

    platform.provide(Throttle, factory=Throttle.for_platform)
