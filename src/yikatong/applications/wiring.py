"""Register the in-repo reference seams and subscribe to the events applications react to."""

from __future__ import annotations

import logging

from yikatong.applications.protocols import CardFactory, IdentityAuthenticator, PopulationRegistry
from yikatong.applications.reference import (
    SimulatedCardFactory,
    SyntheticIdentityAuthenticator,
    SyntheticPopulationRegistry,
)

log = logging.getLogger(__name__)


def configure(platform) -> None:
    platform.provide(IdentityAuthenticator, factory=lambda _p: SyntheticIdentityAuthenticator())
    platform.provide(PopulationRegistry, factory=lambda _p: SyntheticPopulationRegistry())
    platform.provide(CardFactory, factory=lambda _p: SimulatedCardFactory())
