"""Registers the cards domain's default seams and lets its services find them from a uow.

Service functions receive only a unit of work; `seam(uow, Protocol)` finds the platform that
made the unit of work (recorded in the session's `info`) and asks it for the implementation,
so a test or a deployment that calls `platform.provide(BankGateway, other)` is obeyed.
"""

from __future__ import annotations

from typing import Any

from yikatong.cards.protocols import BankGateway, WalletBalance

_PLATFORM_KEY = "yikatong.platform"


def configure(platform) -> None:
    from yikatong.cards.bank_gateway import SimpleBankGateway
    from yikatong.cards.wallet import RecordedWalletRefunds

    # Defaults only: a package that builds the real thing (the banks issue's reference bank,
    # the transit back office) registers its own, and that one stays.
    if not _provided(platform, BankGateway):
        platform.provide(BankGateway, factory=lambda _platform: SimpleBankGateway())
    if not _provided(platform, WalletBalance):
        platform.provide(WalletBalance, RecordedWalletRefunds())
    # Sessions made by this platform carry it, so services can reach its seams.
    platform.session_factory.kw.setdefault("info", {})[_PLATFORM_KEY] = platform


def _provided(platform, protocol: Any) -> bool:
    """Whether another package's wiring already registered an implementation (wiring runs in
    package-name order). Platform has no public query for this yet."""
    return protocol in platform._services or protocol in platform._factories


def seam(uow, protocol: Any) -> Any:
    """The implementation of `protocol` registered on the platform that made `uow`."""
    platform = uow.session.info.get(_PLATFORM_KEY)
    if platform is None:
        raise LookupError("this unit of work was not made by a Platform; cannot find "
                          f"an implementation of {protocol!r}")
    return platform.get(protocol)
