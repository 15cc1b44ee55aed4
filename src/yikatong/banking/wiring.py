"""Registers the reference bank and the platform's door to it.

* `ReferenceBank`: the in-process bank (its own database beside the platform's).
* `BankGateway`: `ReferenceBankGateway` straight into it by default; with `YKT_NATS_URL` set,
  `NatsBankGateway`, which asks the bank's own process (`ykt bank serve`) over NATS.
* `BankRelay` (in-process) carries the bank's events to the platform; `BankStreamConsumers`
  (NATS) apply the banks' events arriving over JetStream. The worker keeps both going
  (banking.jobs).

The packages' wiring runs in alphabetical order: `cards` comes after this package and
registers its `SimpleBankGateway` only when no BankGateway is registered yet.
"""

from __future__ import annotations

from yikatong.banking.link import BankRelay, BankStreamConsumers, InProcessLink
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards.protocols import BankGateway


def configure(platform) -> None:
    platform.provide(ReferenceBank, factory=_reference_bank)
    platform.provide(BankRelay, factory=lambda p: BankRelay(p, p.get(ReferenceBank)))
    platform.provide(BankStreamConsumers, factory=_stream_consumers)
    use_reference_bank(platform)
    if not platform.settings.nats_url:
        platform.after_commit.append(InProcessLink(platform).on_commit)


def use_reference_bank(platform) -> None:
    """Make this package's gateway the platform's BankGateway."""
    platform.provide(BankGateway, factory=gateway_for)


def gateway_for(platform):
    if platform.settings.nats_url:
        from yikatong.banking.nats_gateway import NatsBankGateway

        return NatsBankGateway(platform.settings.nats_url, namespace=_namespace(platform))
    from yikatong.banking.gateway import ReferenceBankGateway

    return ReferenceBankGateway(platform.get(ReferenceBank))


def _reference_bank(platform) -> ReferenceBank:
    bank = ReferenceBank.for_platform(platform)
    if not platform.settings.nats_url:  # a change at the bank reaches the platform at once
        bank.after_commit.append(lambda: platform.get(BankRelay).run())
    return bank


def _stream_consumers(platform) -> BankStreamConsumers:
    from yikatong.directory.rules import packaged_banks
    from yikatong.events.protocols import EventBus

    return BankStreamConsumers(platform, platform.get(EventBus),
                               [bank.code for bank in packaged_banks()])


def _namespace(platform) -> str:
    from yikatong.events.nats import DEFAULT_NAMESPACE
    from yikatong.events.protocols import EventBus

    return getattr(platform.get(EventBus), "namespace", DEFAULT_NAMESPACE)
