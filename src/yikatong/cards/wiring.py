"""Registers the cards domain's default seams (a package that builds the real thing — the
banks issue's reference bank, the transit back office — registers its own, and that one
stays). Services reach seams through `uow.get(Protocol)`."""

from __future__ import annotations

from yikatong.cards.protocols import BankGateway, CardPinCheck, WalletBalance


def configure(platform) -> None:
    from yikatong.cards.bank_gateway import SimpleBankGateway
    from yikatong.cards.wallet import RecordedWalletRefunds

    if not platform.has(BankGateway):
        platform.provide(BankGateway, factory=lambda _platform: SimpleBankGateway())
    if not platform.has(WalletBalance):
        platform.provide(WalletBalance, RecordedWalletRefunds())
    if not platform.has(CardPinCheck):
        from yikatong.cards.pin import ChipPinCheck
        from yikatong.chip.protocols import ChipStore

        platform.provide(CardPinCheck, factory=lambda p: ChipPinCheck(p.get(ChipStore)))
