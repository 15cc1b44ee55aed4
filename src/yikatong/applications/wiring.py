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
    platform.provide(IdentityAuthenticator, factory=identity_authenticator(platform.settings))
    platform.provide(PopulationRegistry, factory=lambda _p: SyntheticPopulationRegistry())
    platform.provide(CardFactory, factory=lambda _p: SimulatedCardFactory())


def identity_authenticator(settings):
    """A factory of the real-name check: ID tokens of the OpenID Connect provider when
    YKT_OIDC_ISSUER is set (its settings checked now, at start-up), else the synthetic one."""
    if not settings.oidc_issuer:
        return lambda _p: SyntheticIdentityAuthenticator()
    from yikatong.oidc.client import OidcConfig, OidcIdentityAuthenticator

    config = OidcConfig.from_settings(settings)
    return lambda plat: OidcIdentityAuthenticator(config, clock=plat.clock)
