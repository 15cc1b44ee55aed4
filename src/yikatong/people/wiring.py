"""Register the people package's settings on the platform."""

from __future__ import annotations

from yikatong.people.config import PeopleConfig


def configure(platform) -> None:
    platform.provide(PeopleConfig, PeopleConfig())
