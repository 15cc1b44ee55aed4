"""Register the transit wallet's seams: the acquirer, the wallet policy, the shadow balance
and the card core's `WalletBalance` (replacing the cards package's default)."""

from __future__ import annotations

import importlib

from yikatong.cards.protocols import WalletBalance
from yikatong.transit.policy import WalletPolicy, default_policy
from yikatong.transit.protocols import PaymentGateway, ShadowBalance


def configure(platform) -> None:
    from yikatong.transit.acquirer import ReferenceAcquirer
    from yikatong.transit.refunds import TransitWalletBalance

    platform.provide(WalletPolicy, default_policy())
    platform.provide(PaymentGateway, factory=ReferenceAcquirer)
    platform.provide(ShadowBalance, factory=lambda _platform: shadow_balance_source())
    platform.provide(WalletBalance, TransitWalletBalance())


def shadow_balance_source() -> ShadowBalance:
    """Clearing's shadow balance once the clearing package offers `shadow_balances.shadow_balance`;
    until then the balance last read from the card (refunds.LastKnownBalance)."""
    from yikatong.transit.refunds import ClearingShadowBalance, LastKnownBalance

    try:
        clearing = importlib.import_module("yikatong.clearing.shadow_balances")
    except ModuleNotFoundError as error:
        if error.name not in ("yikatong.clearing", "yikatong.clearing.shadow_balances"):
            raise
        return LastKnownBalance()
    return ClearingShadowBalance() if hasattr(clearing, "shadow_balance") else LastKnownBalance()
