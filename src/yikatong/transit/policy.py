"""The wallet policy: top-up limits, the balance cap, pending-write and refund periods, load
terminals — as versioned data (config/wallet.toml, an example default, not official policy).

Validated strictly when loaded: an unknown key, a negative or inconsistent amount is a
`WalletPolicyInvalid` naming the place in the file.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from yikatong.core.config_files import Sourced, Strict, validate_dict, validate_toml
from yikatong.core.errors import DomainError

DEFAULT_POLICY_FILE = "wallet.toml"

PositiveFen = Annotated[int, Field(strict=True, gt=0)]
TerminalId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{12}$")]


class WalletPolicyInvalid(DomainError):
    code = "transit_wallet_policy_invalid"
    http_status = 500
    zh = "钱包策略配置 {origin} 有误：{problems}"
    en = "The wallet policy {origin} is invalid: {problems}"


class TopUpLimits(Sourced):
    min_amount: PositiveFen
    max_amount: PositiveFen
    step: PositiveFen

    @model_validator(mode="after")
    def _consistent(self) -> TopUpLimits:
        if self.min_amount > self.max_amount:
            raise ValueError("min_amount exceeds max_amount")
        if self.min_amount % self.step or self.max_amount % self.step:
            raise ValueError("min_amount and max_amount must be multiples of step")
        return self


class WalletLimits(Sourced):
    balance_cap: PositiveFen


class PendingRules(Sourced):
    refund_after_days: Annotated[int, Field(strict=True, ge=1)]
    reading_valid_minutes: Annotated[int, Field(strict=True, ge=1)]
    unconfirmed_payment_minutes: Annotated[int, Field(strict=True, ge=1)]


class RefundRules(Sourced):
    unreadable_wait_days: Annotated[int, Field(strict=True, ge=0)]


class LoadTerminals(Sourced):
    citizen_outlet: TerminalId
    self_service: TerminalId
    nfc: TerminalId


class WalletPolicy(Strict):
    version: str
    status: str
    top_up: TopUpLimits
    wallet: WalletLimits
    pending: PendingRules
    refund: RefundRules
    load_terminals: LoadTerminals

    @model_validator(mode="after")
    def _top_up_fits_the_cap(self) -> WalletPolicy:
        if self.top_up.max_amount > self.wallet.balance_cap:
            raise ValueError("top_up.max_amount exceeds wallet.balance_cap")
        return self

    @property
    def pending_refund_after(self) -> timedelta:
        return timedelta(days=self.pending.refund_after_days)

    @property
    def reading_valid_for(self) -> timedelta:
        return timedelta(minutes=self.pending.reading_valid_minutes)

    @property
    def unconfirmed_payment_after(self) -> timedelta:
        return timedelta(minutes=self.pending.unconfirmed_payment_minutes)

    @property
    def unreadable_wait(self) -> timedelta:
        return timedelta(days=self.refund.unreadable_wait_days)

    def load_terminal(self, channel: str) -> bytes:
        return bytes.fromhex(getattr(self.load_terminals, channel))

    def with_changes(self, **sections: dict) -> WalletPolicy:
        """A copy with some fields of some sections replaced (tests, simulations)."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section] = {**data[section], **values}
        return policy_from_dict(data, origin="<changed>")


def policy_from_dict(data: dict, *, origin: str = "<dict>") -> WalletPolicy:
    return validate_dict(WalletPolicy, data, origin=origin, invalid=WalletPolicyInvalid)


def load_policy(path: Path | str | None = None) -> WalletPolicy:
    """Read and validate a policy file; the packaged example default when no path."""
    if path is None:
        return default_policy()
    path = Path(path)
    return _parse(path.read_text(encoding="utf-8"), origin=str(path))


@cache
def default_policy() -> WalletPolicy:
    text = resources.files("yikatong.transit").joinpath("config", DEFAULT_POLICY_FILE).read_text(encoding="utf-8")
    return _parse(text, origin=DEFAULT_POLICY_FILE)


def _parse(text: str, *, origin: str) -> WalletPolicy:
    return validate_toml(WalletPolicy, text, origin=origin, invalid=WalletPolicyInvalid)
