"""Register the in-repo reference seams and subscribe to the events applications react to."""

from __future__ import annotations

import logging

from yikatong.applications.protocols import CardFactory, IdentityAuthenticator, PopulationRegistry
from yikatong.applications.reference import (
    SimulatedCardFactory,
    SyntheticIdentityAuthenticator,
    SyntheticPopulationRegistry,
)
from yikatong.cards.protocols import PendingReplacements

log = logging.getLogger(__name__)


class ApplicationReplacements:
    """cards.protocols.PendingReplacements: cards reaches the replacement application it must
    cancel through this seam, so the dependency runs from applications down to cards only."""

    def cancel_pending_replacement(self, *, uow, actor, person_id: int, reason: str) -> bool:
        from yikatong.applications.service import cancel_pending_replacement

        return cancel_pending_replacement(uow=uow, actor=actor, person_id=person_id, reason=reason)


def configure(platform) -> None:
    platform.provide(IdentityAuthenticator, factory=identity_authenticator(platform.settings))
    platform.provide(PopulationRegistry, factory=lambda _p: SyntheticPopulationRegistry())
    platform.provide(CardFactory, factory=lambda _p: SimulatedCardFactory())
    platform.provide(PendingReplacements, ApplicationReplacements())


def identity_authenticator(settings):
    """A factory of the real-name check: ID tokens of the OpenID Connect provider when
    YKT_OIDC_ISSUER is set (its settings checked now, at start-up), else the synthetic one."""
    if not settings.oidc_issuer:
        return lambda _p: SyntheticIdentityAuthenticator()
    from yikatong.oidc.client import OidcConfig, OidcIdentityAuthenticator

    config = OidcConfig.from_settings(settings)
    return lambda plat: OidcIdentityAuthenticator(config, clock=plat.clock)
