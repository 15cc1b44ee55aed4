"""One Platform per CLI invocation, built from the environment."""

from __future__ import annotations

from functools import cache

from yikatong.platform import Platform


@cache
def platform() -> Platform:
    return Platform()
