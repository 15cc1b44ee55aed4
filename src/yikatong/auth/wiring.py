"""The login and call throttle (auth/throttle.py), built from the settings when the platform
is (so bad YKT_THROTTLE_LIMITS, or YKT_THROTTLE=off in production, stop it from starting); a
test swaps in one with its own limits with `platform.provide(Throttle, Throttle(...))`."""

from __future__ import annotations


def configure(platform) -> None:
    from yikatong.auth.throttle import Throttle

    platform.provide(Throttle, Throttle.for_platform(platform))
